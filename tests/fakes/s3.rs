//! A fake Amazon S3 endpoint for `GetObject` (path-style `GET /BUCKET/KEY`), signed with SigV4
//! (service `s3`, `x-amz-content-sha256` present), as the gate reads a build's S3 log.
//! Errors are S3's XML: `<Error><Code>…</Code><Message>…</Message></Error>`.
//!
//! Point the gate at it with `AWS_ENDPOINT_URL_S3`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use wiremock::{MockServer, Request, Respond, ResponseTemplate};

use super::lock;

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Call {
    pub method: String,
    /// The raw (still percent-encoded) path.
    pub path: String,
    /// The SigV4 credential scope's service, if signed.
    pub service: Option<String>,
    pub content_sha256: Option<String>,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<(String, String), Vec<u8>>,
    calls: Vec<S3Call>,
    /// (HTTP status, code, message) answered to the next requests.
    faults: Vec<(u16, String, String)>,
}

/// A fake S3 on 127.0.0.1.
pub struct FakeS3 {
    server: MockServer,
    state: Arc<Mutex<State>>,
}

impl FakeS3 {
    pub async fn start() -> FakeS3 {
        let server = super::listen().await;
        let state = Arc::new(Mutex::new(State::default()));
        super::answer_all(
            &server,
            Responder {
                state: Arc::clone(&state),
            },
        )
        .await;
        FakeS3 { server, state }
    }

    /// For `AWS_ENDPOINT_URL_S3`.
    pub fn endpoint(&self) -> String {
        self.server.uri()
    }

    pub fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        lock(&self.state)
            .objects
            .insert((bucket.to_string(), key.to_string()), body);
    }

    /// Answers the next request with this error.
    pub fn fail_next(&self, status: u16, code: &str, message: &str) {
        lock(&self.state)
            .faults
            .push((status, code.to_string(), message.to_string()));
    }

    pub fn calls(&self) -> Vec<S3Call> {
        lock(&self.state).calls.clone()
    }
}

struct Responder {
    state: Arc<Mutex<State>>,
}

fn xml_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"
        )
        .into_bytes(),
        "application/xml",
    )
}

impl Respond for Responder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let header = |name: &str| {
            request
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let service = header("authorization").and_then(|a| {
            let rest = a.split("Credential=").nth(1)?;
            Some(rest.split('/').nth(3)?.to_string())
        });
        let path = request.url.path().to_string();
        let mut state = lock(&self.state);
        state.calls.push(S3Call {
            method: request.method.to_string(),
            path: path.clone(),
            service: service.clone(),
            content_sha256: header("x-amz-content-sha256"),
        });
        if !state.faults.is_empty() {
            let (status, code, message) = state.faults.remove(0);
            return xml_error(status, &code, &message);
        }
        if service.as_deref() != Some("s3") || header("x-amz-content-sha256").is_none() {
            return xml_error(403, "AccessDenied", "Anonymous or wrongly signed request");
        }
        if request.method.as_str() != "GET" {
            return xml_error(
                405,
                "MethodNotAllowed",
                "The specified method is not allowed",
            );
        }
        let decoded = percent_encoding::percent_decode_str(&path)
            .decode_utf8_lossy()
            .to_string();
        let Some((bucket, key)) = decoded.trim_start_matches('/').split_once('/') else {
            return xml_error(400, "InvalidRequest", "no key");
        };
        if !state.objects.keys().any(|(b, _)| b == bucket) {
            return xml_error(404, "NoSuchBucket", "The specified bucket does not exist");
        }
        match state.objects.get(&(bucket.to_string(), key.to_string())) {
            Some(body) => {
                ResponseTemplate::new(200).set_body_raw(body.clone(), "application/x-gzip")
            }
            None => xml_error(404, "NoSuchKey", "The specified key does not exist."),
        }
    }
}
