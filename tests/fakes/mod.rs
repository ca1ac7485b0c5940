//! Local fake servers that speak the real wire formats of AWS CodeBuild (awsJson1_1) and the
//! GitHub REST API, so tests can drive the real `aws-sdk-codebuild` and `octocrab` clients, and
//! the product binary, over HTTP on 127.0.0.1.
//!
//! Include with `mod fakes;` from a test file (or `#[path = "../tests/fakes/mod.rs"] mod fakes;`
//! from a bench). Both fakes are wiremock servers with one catch-all mock whose responder keeps
//! its state behind one mutex, so concurrent requests see a consistent service.
#![allow(dead_code, unused_imports)]

pub mod codebuild;
pub mod github;
pub mod logs;
pub mod s3;

pub use codebuild::{Call, FakeCodeBuild, Fault};
pub use github::{FakeGitHub, GitHubCall, GitHubFault, RecordedStatus};
pub use logs::{FakeLogs, LogsFault};
pub use s3::FakeS3;

use std::sync::{Mutex, MutexGuard};

use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Respond};

/// A wiremock server on a fresh port of 127.0.0.1 (never another interface), recording
/// nothing itself: each fake keeps its own record of the calls.
pub async fn listen() -> MockServer {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    MockServer::builder()
        .listener(listener)
        .disable_request_recording()
        .start()
        .await
}

/// `responder` answers every request to `server` (one catch-all mock).
pub async fn answer_all(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(any())
        .respond_with(responder)
        .mount(server)
        .await;
}

/// The fake's state, also after a test thread panicked while holding it (the state is
/// still what the fake recorded; the panic is the test's failure, not the fake's).
pub fn lock<T>(state: &Mutex<T>) -> MutexGuard<'_, T> {
    state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
