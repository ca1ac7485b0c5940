//! Which batch to judge: a batch id or ARN given by the user, or the CodeBuild console link
//! in a `status` event. All of it is untrusted text, checked before it reaches an API call.

use std::fmt;

use percent_encoding::percent_decode_str;

/// A CodeBuild batch id, `PROJECT:UUID`, checked.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct BatchId {
    pub project: String,
    pub uuid: String,
}

impl BatchId {
    /// `PROJECT:UUID` or `arn:aws:codebuild:REGION:ACCOUNT:build-batch/PROJECT:UUID`.
    pub fn parse(text: &str) -> Result<BatchId, String> {
        let text = text.trim();
        let id = if text.starts_with("arn:") {
            parse_arn(text, "build-batch")?
        } else {
            text
        };
        split_id(id).ok_or_else(|| {
            format!(
                "`{}` is not a batch id: expected PROJECT:UUID or a build-batch ARN",
                crate::text::clean(text, 200)
            )
        })
    }

    pub fn project(&self) -> &str {
        &self.project
    }
}

impl fmt::Display for BatchId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.project, self.uuid)
    }
}

/// A build id (`PROJECT:UUID`), for a console link that points at one member build.
pub type BuildId = BatchId;

/// What a CodeBuild console link points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleTarget {
    Batch(BatchId),
    Build(BuildId),
}

/// Parses `arn:PARTITION:codebuild:REGION:ACCOUNT:KIND/ID` and returns ID.
fn parse_arn<'a>(arn: &'a str, kind: &str) -> Result<&'a str, String> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let bad = || {
        format!(
            "`{}` is not a CodeBuild {kind} ARN",
            crate::text::clean(arn, 200)
        )
    };
    if parts.len() != 6 || !parts[1].starts_with("aws") || parts[2] != "codebuild" {
        return Err(bad());
    }
    parts[5]
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix('/'))
        .ok_or_else(bad)
}

/// `PROJECT:UUID` with CodeBuild's project-name rules and a UUID-like tail.
fn split_id(id: &str) -> Option<BatchId> {
    let (project, uuid) = id.split_once(':')?;
    let project_ok = (2..=255).contains(&project.len())
        && project.starts_with(|c: char| c.is_ascii_alphanumeric())
        && project
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let uuid_ok = (1..=64).contains(&uuid.len())
        && uuid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (project_ok && uuid_ok).then(|| BatchId {
        project: project.to_string(),
        uuid: uuid.to_string(),
    })
}

/// The hosts of the AWS consoles (commercial, China, GovCloud).
fn is_console_host(host: &str) -> bool {
    [
        "console.aws.amazon.com",
        "console.amazonaws.cn",
        "console.amazonaws-us-gov.com",
    ]
    .iter()
    .any(|base| {
        host == *base
            || host
                .strip_suffix(base)
                .is_some_and(|sub| sub.ends_with('.'))
    })
}

/// Parses the `target_url` CodeBuild puts in the statuses it reports: a console page of a
/// batch (`…/projects/P/batch/P%3AUUID…`) or of one build (`…/build/P%3AUUID…`, with
/// `REPORT_INDIVIDUAL_BUILDS`). Links to any other host are refused.
pub fn parse_console_url(target_url: &str) -> Result<ConsoleTarget, String> {
    let shown = crate::text::clean(target_url, 200);
    let url =
        url::Url::parse(target_url).map_err(|_| format!("target_url `{shown}` is not a URL"))?;
    let host = url.host_str().unwrap_or_default();
    if url.scheme() != "https" || !is_console_host(host) {
        return Err(format!(
            "target_url `{shown}` does not point at the AWS console; refusing to act on it"
        ));
    }
    // The old console keeps the route in the fragment: `#/builds/P:UUID/view/new`.
    let mut segments: Vec<String> = url
        .path_segments()
        .into_iter()
        .flatten()
        .chain(url.fragment().unwrap_or_default().split('/'))
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    segments.retain(|s| !s.is_empty());
    for pair in segments.windows(2) {
        let found = match pair[0].as_str() {
            "batch" | "batches" => split_id(&pair[1]).map(ConsoleTarget::Batch),
            "build" | "builds" => split_id(&pair[1]).map(ConsoleTarget::Build),
            _ => None,
        };
        if let Some(target) = found {
            return Ok(target);
        }
    }
    Err(format!(
        "target_url `{shown}` names no CodeBuild batch or build"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ids_and_arns() {
        let id = BatchId::parse("acme-web:0b1c2d3e-aaaa-bbbb-cccc-000000000001").unwrap();
        assert_eq!(id.project, "acme-web");
        let arn = "arn:aws:codebuild:us-east-1:111122223333:build-batch/acme-web:0b1c2d3e-aaaa-bbbb-cccc-000000000001";
        assert_eq!(BatchId::parse(arn).unwrap(), id);
        for bad in [
            "acme-web",
            ":uuid",
            "a:uuid",
            "acme web:uuid",
            "acme:uu id",
            "acme:../../x",
            "arn:aws:s3:::bucket/acme:uuid",
            "arn:aws:codebuild:us-east-1:1:build/acme:uuid",
        ] {
            assert!(BatchId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn parses_console_links_of_batches_and_builds() {
        let batch = "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-web/batch/acme-web%3A0b1c2d3e-0000/?region=us-east-1";
        assert_eq!(
            parse_console_url(batch).unwrap(),
            ConsoleTarget::Batch(BatchId::parse("acme-web:0b1c2d3e-0000").unwrap())
        );
        let build = "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/projects/acme-web/build/acme-web%3Aabc-123/?region=us-east-1";
        assert!(matches!(
            parse_console_url(build).unwrap(),
            ConsoleTarget::Build(_)
        ));
        let old = "https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/acme-web:abc-123/view/new";
        assert!(matches!(
            parse_console_url(old).unwrap(),
            ConsoleTarget::Build(_)
        ));
    }

    #[test]
    fn refuses_links_to_other_hosts() {
        for bad in [
            "https://evil.example.com/codesuite/codebuild/projects/acme/batch/acme%3Aabc/",
            "https://console.aws.amazon.com.evil.example/projects/acme/batch/acme%3Aabc/",
            "https://evilconsole.aws.amazon.com/projects/acme/batch/acme%3Aabc/",
            "http://console.aws.amazon.com/projects/acme/batch/acme%3Aabc/",
            "javascript:alert(1)",
        ] {
            assert!(parse_console_url(bad).is_err(), "{bad}");
        }
    }
}
