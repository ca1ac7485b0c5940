//! What the commands that run in a workflow share: the log, where the policy comes from,
//! and the GitHub client built off the async thread.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::actions;
use crate::error::RunError;
use crate::github::{GitHub, GitHubError, Repo, Token};
use crate::policy::{DEFAULT_POLICY_NAME, Policy};

/// Where the repository's own policy lives, relative to the workspace.
pub const DEFAULT_POLICY_PATH: &str = ".github/codebuild-retry-gate.yml";
/// `policy-ref` value meaning the repository's default branch.
pub const DEFAULT_BRANCH_REF: &str = "default-branch";
/// Seconds per attempt of an AWS or GitHub call, unless `--timeout` says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

/// Messages for the person reading the log: stderr, as workflow commands under Actions.
pub struct Log<'a> {
    pub err: &'a mut dyn Write,
    pub verbose: bool,
    pub in_actions: bool,
    /// When the run started, for the timings of debug lines.
    pub started: std::time::Instant,
}

impl Log<'_> {
    /// One line: a workflow command under Actions, else `label: message`.
    fn emit(&mut self, command: &str, label: &str, message: &str) {
        let line = if self.in_actions {
            actions::command(command, &[], message)
        } else {
            format!("{label}: {message}")
        };
        let _ = writeln!(self.err, "{line}");
    }

    pub fn notice(&mut self, message: &str) {
        self.emit("notice", "note", message);
    }

    pub fn warning(&mut self, message: &str) {
        self.emit("warning", "warning", message);
    }

    /// Only with `--verbose` (or `RUNNER_DEBUG=1`), with the time since the run started.
    pub fn debug(&mut self, message: &str) {
        if self.verbose {
            let elapsed = self.started.elapsed().as_millis();
            self.emit("debug", "debug", &format!("[{elapsed:>4} ms] {message}"));
        }
    }
}

/// Where a run's policy comes from: a path (in the workspace, or in the repository at
/// `git_ref` through the contents API).
#[derive(Debug, Clone, Default)]
pub struct PolicySource {
    /// `--policy` (input `policy`).
    pub path: Option<PathBuf>,
    /// `--policy-ref` (input `policy-ref`): read from the repository at this ref.
    pub git_ref: Option<String>,
    /// `OWNER/REPO` to read it from, with `git_ref`.
    pub repository: Option<String>,
}

/// The policy from the workspace: `path`, else the default path, else the built-in one (and
/// a notice says so).
pub fn local_policy(source: &PolicySource, log: &mut Log<'_>) -> Result<Policy, RunError> {
    if let Some(path) = &source.path {
        return Ok(Policy::load(path)?);
    }
    let default = Path::new(DEFAULT_POLICY_PATH);
    if default.exists() {
        return Ok(Policy::load(default)?);
    }
    log.notice(&format!(
        "no {DEFAULT_POLICY_PATH} in the workspace; using the {DEFAULT_POLICY_NAME}"
    ));
    Ok(Policy::builtin())
}

/// The policy file at a trusted ref of the repository, through the contents API, so that a
/// pull request cannot loosen the policy that judges it. `default-branch` (the Action's
/// default) reads the repository's default branch.
pub async fn fetch_policy(
    source: &PolicySource,
    github: Option<&GitHub>,
) -> Result<Policy, RunError> {
    let git_ref = source.git_ref.as_deref().unwrap_or(DEFAULT_BRANCH_REF);
    let github =
        github.ok_or_else(|| RunError::Runtime("no GitHub client to read the policy".into()))?;
    let repo_text = source.repository.clone().ok_or_else(|| {
        RunError::Input(
            "policy-ref needs the repository: set --repository or GITHUB_REPOSITORY".into(),
        )
    })?;
    let repo = repo(&repo_text)?;
    let path = source
        .path
        .as_ref()
        .map_or(DEFAULT_POLICY_PATH.to_string(), |p| {
            p.to_string_lossy().trim_start_matches("./").to_string()
        });
    let at = (git_ref != DEFAULT_BRANCH_REF).then_some(git_ref);
    let shown_ref = at.unwrap_or("the default branch");
    let name = format!("{repo}@{}:{path}", at.unwrap_or(DEFAULT_BRANCH_REF));
    match github
        .file(&repo, &path, at)
        .await
        .map_err(|e| RunError::Runtime(e.to_string()))?
    {
        Some(bytes) => Ok(Policy::from_bytes(&bytes, &name)?),
        None if source.path.is_some() => Err(RunError::Input(format!(
            "the policy {path} does not exist at {shown_ref} of {repo}"
        ))),
        None => {
            let mut builtin = Policy::builtin();
            builtin.source = format!("{DEFAULT_POLICY_NAME} (no {path} at {shown_ref} of {repo})");
            Ok(builtin)
        }
    }
}

/// Builds the GitHub client on a blocking thread (its TLS roots take a few ms to load), so
/// that it is ready when the CodeBuild reads are.
pub fn spawn_github(
    url: String,
    token: Token,
    timeout: Duration,
) -> tokio::task::JoinHandle<Result<GitHub, GitHubError>> {
    tokio::task::spawn_blocking(move || GitHub::new(&url, &token, timeout))
}

pub async fn github_client(
    task: tokio::task::JoinHandle<Result<GitHub, crate::github::GitHubError>>,
) -> Result<GitHub, RunError> {
    match task.await {
        Ok(Ok(github)) => Ok(github),
        Ok(Err(e)) => Err(RunError::Runtime(e.to_string())),
        Err(e) => Err(RunError::Runtime(format!(
            "the GitHub client could not be built: {e}"
        ))),
    }
}

/// A repository the user named (`OWNER/REPO`), or an input error that says what was given.
pub fn repo(text: &str) -> Result<Repo, RunError> {
    Repo::parse(text).ok_or_else(|| {
        RunError::Input(format!(
            "`{}` is not OWNER/REPO",
            crate::text::clean(text, 200)
        ))
    })
}

/// An error about a file the user named.
pub fn at(path: &Path, e: impl std::fmt::Display) -> RunError {
    RunError::Input(format!("{}: {e}", path.display()))
}

/// A capture of AWS CLI output, refused unread past `max_bytes` (`what` says the limit in
/// words).
pub fn read_capture(path: &Path, max_bytes: u64, what: &str) -> Result<String, RunError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| at(path, format!("cannot read: {e}")))?;
    let mut text = String::new();
    file.take(max_bytes + 1)
        .read_to_string(&mut text)
        .map_err(|e| at(path, format!("cannot read: {e}")))?;
    if text.len() as u64 > max_bytes {
        return Err(at(
            path,
            format!("larger than {what}; not a CodeBuild capture"),
        ));
    }
    Ok(text)
}
