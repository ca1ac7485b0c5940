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
