//! codebuild-retry-gate: a policy-checking CI gate for AWS CodeBuild batch builds.
//!
//! Fetch → decide → act → report. [`decide::decide`] is the pure judgment over a validated
//! [`policy::Policy`] and plain [`facts::Facts`]; everything else reads, acts or renders.
#![forbid(unsafe_code)]
#![warn(clippy::print_stdout, clippy::print_stderr)]

pub mod actions;
pub mod aws;
pub mod batch_ref;
pub mod cli;
pub mod codebuild;
pub mod commands;
pub mod decide;
pub mod decision;
pub mod error;
pub mod facts;
pub mod github;
pub mod history;
pub mod latest;
pub mod live;
pub mod policy;
pub mod render;
pub mod replay;
pub mod test_reports;
pub mod text;
pub mod url_safe;
pub mod webhook;
