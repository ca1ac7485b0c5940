//! The AWS side of `log` conditions: the end of a failed build's log, read live for the builds
//! [`crate::decide::needs()`] names (root failures whose other selectors already match a rule
//! with `log`), and nothing at all for a policy without `log`.
//!
//! Where: the build's CloudWatch Logs stream (`logs.groupName` / `logs.streamName`) unless
//! CodeBuild says CloudWatch Logs are disabled; else (or when the stream cannot be read) its
//! S3 log (`logs.s3LogsArn`, gzip).
//!
//! CloudWatch Logs: `GetLogEvents` newest first (`startFromHead: false`), bounded by the
//! build's start and end (with a margin for clock skew), together with a one-event read from
//! the stream's head: when the newest page holds that first event, the page is the whole log
//! and one round trip was enough. Otherwise older pages are read with `nextBackwardToken`
//! only until the tail the rules need is covered, or the token comes back unchanged (the
//! documented end of the stream), or [`MAX_PAGES`]. At most [`MAX_LOG_BUILDS`] builds a
//! decision, all at once, and never more than [`MAX_REQUESTS_PER_SECOND`] requests started
//! in any second (CloudWatch Logs' `GetLogEvents` quota per account and region).
//!
//! S3: one GET of the object, signed with SigV4 over the SDK's own HTTP client, gunzipped
//! while only the last bytes the rules need are kept.
//!
//! Nothing here ends a run: a log that cannot be read is recorded as unreadable, with which
//! build and why, and the rule that needs it does not match (fail closed).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_cloudwatchlogs::Client as LogsClient;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::OutputLogEvent;
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::byte_stream::ByteStream;
use futures_util::StreamExt;

use crate::aws::Aws;
use crate::facts::expensive::{
    MAX_LOG_BUILDS, gunzip_tail, logs_over_the_cap, raw_window, split_lines,
};
use crate::facts::{Build, Facts, Fetched, LogLocation, LogTail};
use crate::policy::Policy;

/// `GetLogEvents` requests started in any one second, at most: CloudWatch Logs' quota is
/// 10 a second per account and region.
pub const MAX_REQUESTS_PER_SECOND: usize = 10;
/// `GetLogEvents` pages (up to 1 MB each) read for one build, at most: a 4 MiB tail needs
/// about five.
pub const MAX_PAGES: usize = 16;
/// How far before the build's start and after its end log events are still its own: the
/// stream is the build's, the margin only absorbs clock skew.
pub const TIME_MARGIN_MS: i64 = 5 * 60 * 1000;
/// An S3 log object (gzip) larger than this is not read.
pub const MAX_S3_OBJECT_BYTES: usize = 256 * 1024 * 1024;
/// S3 GET attempts (throttling and 5xx are retried, with a short backoff).
const S3_ATTEMPTS: u32 = 3;

/// Reads build logs for one run: the CloudWatch Logs client and the S3 connector are built
/// on first use, from the run's AWS configuration (so their endpoints come from
/// `AWS_ENDPOINT_URL_CLOUDWATCH_LOGS` and `AWS_ENDPOINT_URL_S3`).
pub struct LogReader {
    aws: Aws,
    cloudwatch: OnceLock<LogsClient>,
    /// When the last requests started, for [`MAX_REQUESTS_PER_SECOND`].
    started: Mutex<VecDeque<Instant>>,
}

impl LogReader {
    pub fn new(aws: &Aws) -> LogReader {
        LogReader {
            aws: aws.clone(),
            cloudwatch: OnceLock::new(),
            started: Mutex::new(VecDeque::new()),
        }
    }

    fn cloudwatch(&self) -> &LogsClient {
        self.cloudwatch
            .get_or_init(|| LogsClient::new(&self.aws.config))
    }

    /// Waits until a request may start without exceeding [`MAX_REQUESTS_PER_SECOND`].
    async fn pace(&self) {
        loop {
            let wait = {
                let mut started = self
                    .started
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let now = Instant::now();
                while started
                    .front()
                    .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
                {
                    started.pop_front();
                }
                if started.len() < MAX_REQUESTS_PER_SECOND {
                    started.push_back(now);
                    return;
                }
                let oldest = *started.front().expect("full");
                Duration::from_secs(1).saturating_sub(now.duration_since(oldest))
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// The logs of `wanted` (build id → bytes of the end), each known, absent or unreadable.
    /// At most [`MAX_LOG_BUILDS`] are read (in id order), all at once.
    pub async fn read(
        &self,
        wanted: &BTreeMap<String, usize>,
        builds: &BTreeMap<String, Build>,
    ) -> BTreeMap<String, Fetched<LogTail>> {
        let mut out = logs_over_the_cap(wanted);
        let mut jobs = Vec::new();
        for (id, bytes) in wanted.iter().take(MAX_LOG_BUILDS) {
            match builds.get(id) {
                Some(build) => jobs.push((id.clone(), *bytes, build)),
                None => {
                    out.insert(
                        id.clone(),
                        Fetched::Unreadable(
                            "CodeBuild's BatchGetBuilds did not return the build, so where its log is is unknown"
                                .into(),
                        ),
                    );
                }
            }
        }
        let read: Vec<(String, Fetched<LogTail>)> = futures_util::stream::iter(jobs)
            .map(|(id, bytes, build)| async move { (id, self.read_build(build, bytes).await) })
            .buffer_unordered(MAX_LOG_BUILDS)
            .collect()
            .await;
        out.extend(read);
        out
    }

    /// One build's log: CloudWatch Logs first, else (or when the stream cannot be read) S3.
    pub async fn read_build(&self, build: &Build, bytes: usize) -> Fetched<LogTail> {
        let Some(location) = &build.logs else {
            return Fetched::Absent("CodeBuild names no log location for it".into());
        };
        let object = s3_object(location, &build.id);
        let Some((group, stream)) = cloudwatch_stream(location) else {
            return match object {
                Some(object) => self.read_s3(&object, bytes).await,
                None => Fetched::Absent(
                    "CodeBuild recorded neither a CloudWatch Logs stream nor an S3 log for it (both disabled, or the build never started)"
                        .into(),
                ),
            };
        };
        let cloudwatch_why = match self.read_cloudwatch(group, stream, build, bytes).await {
            Fetched::Known(tail) => return Fetched::Known(tail),
            unread if object.is_none() => return unread,
            Fetched::Absent(why) | Fetched::Unreadable(why) => why,
        };
        let Some(object) = object else {
            return Fetched::Unreadable(cloudwatch_why);
        };
        match self.read_s3(&object, bytes).await {
            Fetched::Known(tail) => Fetched::Known(tail),
            Fetched::Absent(why) | Fetched::Unreadable(why) => {
                Fetched::Unreadable(format!("{cloudwatch_why}; and its S3 log: {why}"))
            }
        }
    }

    /// The end of a CloudWatch Logs stream, `bytes` of it at least (unless it is shorter).
    async fn read_cloudwatch(
        &self,
        group: &str,
        stream: &str,
        build: &Build,
        bytes: usize,
    ) -> Fetched<LogTail> {
        let client = self.cloudwatch();
        let start = build.start_time.map(|t| t.0.saturating_sub(TIME_MARGIN_MS));
        let end = build.ended_at().map(|t| t.0.saturating_add(TIME_MARGIN_MS));
        let request = || {
            client
                .get_log_events()
                .log_group_name(group)
                .log_stream_name(stream)
                .set_start_time(start)
                .set_end_time(end)
        };
        let source = format!("CloudWatch Logs {group} {stream}");
        let failed = |e: SdkError<_, _>, pages: usize| {
            Fetched::Unreadable(self.cloudwatch_error(e, group, stream, pages))
        };
        // Round trip 1: the newest page and the stream's first event, together.
        self.pace().await;
        self.pace().await;
        let (newest, head) = tokio::join!(
            request().start_from_head(false).send(),
            request().start_from_head(true).limit(1).send()
        );
        let newest = match newest {
            Ok(out) => out,
            Err(e) => return failed(e, 0),
        };
        // A failed head read only means the end is found by paging.
        let head = head.ok().map(|out| out.events().first().cloned());
        let mut tail = Tail::default();
        tail.add_page(newest.events());
        let mut whole = match &head {
            Some(Some(first)) => tail.oldest() == Some(first),
            // An empty head page is no proof the range is empty: GetLogEvents "can return
            // empty results while there are more log events available through the token".
            // Page on; an empty stream ends with its token returned unchanged.
            Some(None) => false,
            None => false,
        };
        let mut token = newest.next_backward_token().map(str::to_string);
        let mut pages = 1;
        while !whole && tail.bytes < bytes && pages < MAX_PAGES {
            let Some(given) = token.take() else { break };
            self.pace().await;
            let out = match request()
                .start_from_head(false)
                .next_token(given.clone())
                .send()
                .await
            {
                Ok(out) => out,
                Err(e) => return failed(e, pages),
            };
            pages += 1;
            // Each older page must end before the pages read so far begin: an overlap would
            // put newer lines in place of older ones (and could hide a forbidden line).
            if let (Some(newest), Some(oldest)) = (out.events().last(), tail.oldest())
                && (newest == oldest || newest.timestamp() > oldest.timestamp())
            {
                return Fetched::Unreadable(format!(
                    "{source}: page {pages} of GetLogEvents (backward) overlaps the newer pages; the tail cannot be read reliably"
                ));
            }
            tail.add_page(out.events());
            let next = out.next_backward_token().map(str::to_string);
            // The documented end of the stream: the token passed in comes back.
            whole = next.as_deref() == Some(given.as_str())
                || head
                    .as_ref()
                    .and_then(Option::as_ref)
                    .is_some_and(|first| tail.oldest() == Some(first));
            token = next;
        }
        if whole && tail.events == 0 {
            return Fetched::Absent(format!(
                "{source} has no event between the build's start and end (nothing was written, or the group's retention expired it)"
            ));
        }
        Fetched::Known(tail.finish(&source, bytes, whole))
    }

    /// `GetLogEvents` failed: the call, the stream, what the service said, and what to do.
    fn cloudwatch_error<E, R>(
        &self,
        err: SdkError<E, R>,
        group: &str,
        stream: &str,
        pages: usize,
    ) -> String
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .unwrap_or_default()
            .to_string();
        let detail = match &err {
            SdkError::ServiceError(e) => format!(
                "{}: {}",
                e.err().code().unwrap_or("error"),
                e.err().message().unwrap_or("(no message)")
            ),
            SdkError::TimeoutError(_) => "no answer in time".to_string(),
            other => crate::codebuild::error_chain(other),
        };
        let hint = match code.as_str() {
            "ResourceNotFoundException" => {
                " (the log group or stream does not exist: deleted, or never created)"
            }
            "AccessDeniedException" | "AccessDenied" | "UnrecognizedClientException" => {
                " (the gate's role needs logs:GetLogEvents on the project's log group; see docs/setup.md)"
            }
            "ThrottlingException" => {
                " (throttled, also after the SDK's retries: CloudWatch Logs allows about 10 GetLogEvents a second per account and region)"
            }
            _ => "",
        };
        let after = match pages {
            0 => String::new(),
            n => format!(" after {n} page(s)"),
        };
        format!(
            "CloudWatch Logs GetLogEvents on {group} {stream} in {} failed{after}: {detail}{hint}",
            self.aws.region.name
        )
    }

    /// The end of a gzip S3 log object: one signed GET, gunzipped as it is read.
    async fn read_s3(&self, object: &S3Object, bytes: usize) -> Fetched<LogTail> {
        let source = format!("s3://{}/{}", object.bucket, object.key);
        let body = match self.get_s3(object).await {
            Ok(body) => body,
            Err(why) => return Fetched::Unreadable(format!("S3 GetObject {source}: {why}")),
        };
        let raw = raw_window(bytes);
        match gunzip_tail(body.as_slice(), raw) {
            Ok((text, whole)) => Fetched::Known(LogTail::from_text(&source, &text, raw, whole)),
            Err(why) => Fetched::Unreadable(format!("{source}: {why}")),
        }
    }

    /// The object's bytes, or why not (the service's error code and message, with a hint).
    async fn get_s3(&self, object: &S3Object) -> Result<Vec<u8>, String> {
        let url = s3_url(&self.s3_endpoint(), &self.aws.region.name, object);
        let mut last = String::new();
        for attempt in 0..S3_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300 << attempt)).await;
            }
            match self.get_once(&url).await {
                Ok(body) => return Ok(body),
                Err((why, retry)) => {
                    last = why;
                    if !retry {
                        break;
                    }
                }
            }
        }
        Err(last)
    }

    /// `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL` (the run's configuration), else none
    /// (S3's own endpoint for the region).
    fn s3_endpoint(&self) -> Option<String> {
        std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|u| !u.trim().is_empty())
            .or_else(|| self.aws.config.endpoint_url().map(str::to_string))
    }

    /// One signed GET. `Err((why, worth retrying))`.
    async fn get_once(&self, url: &str) -> Result<Vec<u8>, (String, bool)> {
        let request = self.signed_get(url).await.map_err(|why| (why, false))?;
        let timeout = self
            .aws
            .config
            .timeout_config()
            .and_then(|t| t.operation_attempt_timeout())
            .unwrap_or(Duration::from_secs(30));
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .read_timeout(timeout)
            .build();
        let Some(connector) =
            aws_smithy_http_client::default_connector(&settings, self.aws.config.sleep_impl())
        else {
            return Err(("no HTTPS client".into(), false));
        };
        let call = async {
            let response = connector
                .call(request)
                .await
                .map_err(|e| (crate::codebuild::error_chain(&e), true))?;
            let status = response.status().as_u16();
            let length = response
                .headers()
                .get("content-length")
                .and_then(|l| l.parse::<usize>().ok());
            if status == 200 && length.is_some_and(|l| l > MAX_S3_OBJECT_BYTES) {
                return Err((
                    format!(
                        "the object is {} MiB, more than the {} MiB the gate reads",
                        length.unwrap_or_default() >> 20,
                        MAX_S3_OBJECT_BYTES >> 20
                    ),
                    false,
                ));
            }
            let mut stream = ByteStream::new(response.into_body());
            let mut body = Vec::new();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(|e| (crate::codebuild::error_chain(&e), true))?;
                if body.len() + chunk.len() > MAX_S3_OBJECT_BYTES {
                    return Err((
                        format!(
                            "the object is more than the {} MiB the gate reads",
                            MAX_S3_OBJECT_BYTES >> 20
                        ),
                        false,
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            match status {
                200 => Ok(body),
                _ => Err(s3_error(status, &body)),
            }
        };
        match tokio::time::timeout(timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(("no answer in time".into(), true)),
        }
    }

    /// A GET of `url`, signed with SigV4 for S3 in the run's region with the run's
    /// credentials (the standard chain's).
    async fn signed_get(
        &self,
        url: &str,
    ) -> Result<aws_smithy_runtime_api::client::orchestrator::HttpRequest, String> {
        use aws_sigv4::http_request::{
            PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode, sign,
        };
        let provider = self
            .aws
            .config
            .credentials_provider()
            .ok_or("no AWS credentials provider")?;
        let credentials = provider
            .provide_credentials()
            .await
            .map_err(|e| format!("no AWS credentials: {}", crate::codebuild::error_chain(&e)))?;
        let identity = credentials.into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.aws.region.name)
            .name("s3")
            .time(SystemTime::now())
            .settings(settings)
            .build()
            .map_err(|e| e.to_string())?
            .into();
        let signable =
            SignableRequest::new("GET", url, std::iter::empty(), SignableBody::Bytes(&[]))
                .map_err(|e| e.to_string())?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| e.to_string())?
            .into_parts();
        let mut request = http::Request::builder()
            .method("GET")
            .uri(url)
            .body(SdkBody::empty())
            .map_err(|e| e.to_string())?;
        instructions.apply_to_request_http1x(&mut request);
        aws_smithy_runtime_api::client::orchestrator::HttpRequest::try_from(request)
            .map_err(|e| e.to_string())
    }
}

/// The live step for `log` conditions: the logs of the builds [`crate::decide::needs()`]
/// names, read by `reader`. Empty (and no call made) when no rule with `log` could change
/// the decision.
pub async fn read_for_logs(
    reader: &LogReader,
    policy: &Policy,
    facts: &Facts,
) -> BTreeMap<String, Fetched<LogTail>> {
    let wanted = crate::decide::needs(policy, facts).logs;
    if wanted.is_empty() {
        return BTreeMap::new();
    }
    reader.read(&wanted, &facts.builds).await
}

/// The build's CloudWatch Logs group and stream, unless CodeBuild says they are disabled.
fn cloudwatch_stream(location: &LogLocation) -> Option<(&str, &str)> {
    if location.cloudwatch_status.as_deref() == Some("DISABLED") {
        return None;
    }
    Some((location.group.as_deref()?, location.stream.as_deref()?))
}

/// An S3 object: bucket and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    pub bucket: String,
    pub key: String,
}

/// The build's S3 log object, when S3 logs are enabled: `logs.s3LogsArn`, else (assumed
/// from CodeBuild's layout) `LOCATION/UUID.gz` under `logs.s3Logs.location`.
fn s3_object(location: &LogLocation, build_id: &str) -> Option<S3Object> {
    let enabled = match location.s3_status.as_deref() {
        Some("DISABLED") => return None,
        Some(_) => true,
        None => location.s3_arn.is_some(),
    };
    if !enabled {
        return None;
    }
    let strip = |text: &str| -> String {
        match text.split_once(":::") {
            Some((arn, rest)) if arn.starts_with("arn:") => rest.to_string(),
            _ => text.to_string(),
        }
    };
    let path = match (&location.s3_arn, &location.s3_location) {
        (Some(arn), _) => strip(arn),
        (None, Some(prefix)) => {
            let uuid = build_id.rsplit_once(':').map_or(build_id, |(_, u)| u);
            format!("{}/{uuid}.gz", strip(prefix).trim_end_matches('/'))
        }
        (None, None) => return None,
    };
    let (bucket, key) = path.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| S3Object {
        bucket: bucket.to_string(),
        key: key.to_string(),
    })
}

/// The object's URL: path style on a configured endpoint (a local or private one) and for
/// bucket names with dots; else virtual-hosted style on S3's regional endpoint.
fn s3_url(endpoint: &Option<String>, region: &str, object: &S3Object) -> String {
    const KEY: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b'/');
    let key = percent_encoding::utf8_percent_encode(&object.key, KEY);
    let bucket = percent_encoding::utf8_percent_encode(&object.bucket, KEY);
    let domain = match region.split('-').next() {
        Some("cn") => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    match endpoint {
        Some(endpoint) => format!("{}/{bucket}/{key}", endpoint.trim_end_matches('/')),
        None if object.bucket.contains('.') => {
            format!("https://s3.{region}.{domain}/{bucket}/{key}")
        }
        None => format!("https://{bucket}.s3.{region}.{domain}/{key}"),
    }
}

/// S3's error answer (`<Error><Code>…</Code><Message>…</Message>`) in plain words, and whether
/// to try again.
fn s3_error(status: u16, body: &[u8]) -> (String, bool) {
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]);
    let field = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find(&close)?;
        Some(text[start..end].to_string())
    };
    let code = field("Code").unwrap_or_else(|| format!("HTTP {status}"));
    let message = field("Message").unwrap_or_default();
    let hint = match code.as_str() {
        "AccessDenied" => {
            " (the gate's role needs s3:GetObject on the project's S3 log location; see docs/setup.md)"
        }
        "NoSuchKey" => " (the log object does not exist: deleted, expired, or never written)",
        "NoSuchBucket" => " (the log bucket does not exist)",
        _ => "",
    };
    let retry = status >= 500 || code == "SlowDown" || status == 429;
    let detail = if message.is_empty() {
        code.clone()
    } else {
        format!("{code}: {message}")
    };
    (crate::text::clean(&format!("{detail}{hint}"), 600), retry)
}

/// The pages of a stream read so far, newest first, and what they add up to.
#[derive(Default)]
struct Tail {
    /// Each page's lines, oldest first within the page; pages newest first.
    pages: Vec<Vec<String>>,
    /// The oldest event read so far.
    oldest: Option<OutputLogEvent>,
    events: usize,
    /// Bytes of the lines read (each line with its newline).
    bytes: usize,
}

impl Tail {
    /// An older page (events oldest first).
    fn add_page(&mut self, events: &[OutputLogEvent]) {
        let mut lines = Vec::new();
        for event in events {
            lines.extend(split_lines(event.message().unwrap_or_default().as_bytes()));
        }
        self.bytes += lines.iter().map(|l| l.len() + 1).sum::<usize>();
        self.events += events.len();
        if let Some(first) = events.first() {
            self.oldest = Some(first.clone());
        }
        self.pages.push(lines);
    }

    fn oldest(&self) -> Option<&OutputLogEvent> {
        self.oldest.as_ref()
    }

    /// The lines, oldest first, keeping no more than the last `bytes` need (the line that
    /// crosses it included).
    fn finish(self, source: &str, bytes: usize, whole: bool) -> LogTail {
        let mut lines: VecDeque<String> = self.pages.into_iter().rev().flatten().collect();
        let mut total = self.bytes;
        let mut cut = false;
        while let Some(first) = lines.front() {
            let size = first.len() + 1;
            if lines.len() == 1 || total - size < bytes {
                break;
            }
            total -= size;
            lines.pop_front();
            cut = true;
        }
        LogTail {
            source: source.to_string(),
            lines: lines.into(),
            whole: whole && !cut,
            bytes: total,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location() -> LogLocation {
        LogLocation {
            group: Some("/aws/codebuild/web".into()),
            stream: Some("abc".into()),
            cloudwatch_status: Some("ENABLED".into()),
            s3_status: Some("DISABLED".into()),
            ..LogLocation::default()
        }
    }

    #[test]
    fn cloudwatch_unless_disabled_then_s3_when_enabled() {
        let l = location();
        assert_eq!(cloudwatch_stream(&l), Some(("/aws/codebuild/web", "abc")));
        assert_eq!(s3_object(&l, "web:abc"), None);
        let s3 = LogLocation {
            cloudwatch_status: Some("DISABLED".into()),
            s3_status: Some("ENABLED".into()),
            s3_arn: Some("arn:aws:s3:::logs-bucket/build-log/abc.gz".into()),
            s3_location: Some("logs-bucket/build-log".into()),
            ..l.clone()
        };
        assert_eq!(cloudwatch_stream(&s3), None);
        assert_eq!(
            s3_object(&s3, "web:abc"),
            Some(S3Object {
                bucket: "logs-bucket".into(),
                key: "build-log/abc.gz".into()
            })
        );
        // Without the ARN: LOCATION/UUID.gz.
        let by_location = LogLocation {
            s3_arn: None,
            s3_location: Some("arn:aws:s3:::logs-bucket/prefix/".into()),
            ..s3.clone()
        };
        assert_eq!(
            s3_object(&by_location, "web:abc").unwrap().key,
            "prefix/abc.gz"
        );
        // Nothing to read.
        assert_eq!(
            s3_object(
                &LogLocation {
                    s3_location: Some("bucket-only".into()),
                    s3_arn: None,
                    ..s3
                },
                "web:abc"
            )
            .map(|o| o.key),
            Some("abc.gz".into())
        );
    }

    #[test]
    fn s3_urls_are_path_style_on_an_endpoint_and_for_dotted_buckets() {
        let object = S3Object {
            bucket: "logs".into(),
            key: "build log/a+b.gz".into(),
        };
        assert_eq!(
            s3_url(&Some("http://127.0.0.1:9/".into()), "us-east-1", &object),
            "http://127.0.0.1:9/logs/build%20log/a%2Bb.gz"
        );
        assert_eq!(
            s3_url(&None, "eu-west-1", &object),
            "https://logs.s3.eu-west-1.amazonaws.com/build%20log/a%2Bb.gz"
        );
        let dotted = S3Object {
            bucket: "my.logs".into(),
            key: "k.gz".into(),
        };
        assert_eq!(
            s3_url(&None, "cn-north-1", &dotted),
            "https://s3.cn-north-1.amazonaws.com.cn/my.logs/k.gz"
        );
    }

    #[test]
    fn s3_errors_in_plain_words() {
        let (why, retry) = s3_error(
            403,
            b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>",
        );
        assert!(why.starts_with("AccessDenied: Access Denied (the gate's role needs s3:GetObject"));
        assert!(!retry);
        assert!(s3_error(503, b"<Error><Code>SlowDown</Code></Error>").1);
    }

    #[test]
    fn the_tail_drops_lines_older_than_it_needs() {
        let event = |m: &str| OutputLogEvent::builder().message(m).timestamp(1).build();
        let mut tail = Tail::default();
        tail.add_page(&[event("three\n"), event("four\n")]);
        tail.add_page(&[event("one\ntwo\n")]);
        assert_eq!(tail.bytes, 19);
        let all = Tail {
            pages: tail.pages.clone(),
            oldest: None,
            events: 3,
            bytes: tail.bytes,
        }
        .finish("s", 100, true);
        assert_eq!(all.lines, ["one", "two", "three", "four"]);
        assert!(all.whole);
        let end = tail.finish("s", 10, true);
        assert_eq!(end.lines, ["three", "four"]);
        assert!(!end.whole);
        assert_eq!(end.bytes, 11);
    }
}
