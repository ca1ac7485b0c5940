//! Errors that end a run, and the one mapping from them to exit codes.

use thiserror::Error;

use crate::policy::PolicyError;

/// Exit codes (SPEC "Outputs and exit codes").
pub mod exit {
    /// Decided and reported.
    pub const OK: i32 = 0;
    /// Refused, and `--fail-on-refusal` was set.
    pub const REFUSED: i32 = 1;
    /// Usage or policy error, or bad input.
    pub const USAGE: i32 = 2;
    /// Runtime failure: AWS or GitHub unreachable after retries, missing credentials.
    pub const RUNTIME: i32 = 3;
}

#[derive(Debug, Error)]
pub enum RunError {
    /// The policy is broken.
    #[error("{0}")]
    Policy(#[from] PolicyError),
    /// The policy cannot be read: a `policy-ref` that does not exist, a repository the token
    /// cannot read, a path that is not a file. Never the built-in policy in its place.
    #[error("{0}")]
    PolicyUnreadable(String),
    /// An input (a file, a flag, a batch id) is wrong.
    #[error("{0}")]
    Input(String),
    /// Something outside failed (network, service, credentials).
    #[error("{0}")]
    Runtime(String),
}

impl RunError {
    /// An invalid or unreadable policy: the gate still reports it on the batch's commit.
    pub fn is_policy_problem(&self) -> bool {
        matches!(self, RunError::Policy(_) | RunError::PolicyUnreadable(_))
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            RunError::Policy(_) | RunError::PolicyUnreadable(_) | RunError::Input(_) => exit::USAGE,
            RunError::Runtime(_) => exit::RUNTIME,
        }
    }
}
