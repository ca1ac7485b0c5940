//! The GitHub side: commit statuses (posting them, and reading the gate's latest one),
//! policy files from a trusted ref, and GitHub's facts about a commit ([`commit_facts`]:
//! branches and pull requests), through octocrab.
//!
//! The base URL comes from `GITHUB_API_URL` (GitHub Enterprise Server's `/api/v3` works the
//! same way). 5xx, 429 and secondary rate limits (403 with `retry-after`) are retried with
//! backoff, a bounded number of times (octocrab's own retry layer is not compiled in: it
//! resends at once and ignores `retry-after`). The token is a [`Token`]: it never prints.

mod commit_facts;

use std::fmt;
use std::time::Duration;

mod pulls;

pub use pulls::{Context, MAX_LISTED_FILES, Pull};

use octocrab::Octocrab;
use octocrab::models::StatusState;
use thiserror::Error;

use crate::facts::Timestamp;
use crate::facts::awscli::parse_iso8601;

/// Attempts per GitHub call (the first one included).
pub const MAX_ATTEMPTS: u32 = 4;
/// The longest `retry-after` the gate is willing to wait for.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// A GitHub token. `Debug` and `Display` print `***`; only [`Token::expose`] gives the text.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(text: impl Into<String>) -> Token {
        Token(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Token {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Token, Self::Err> {
        Ok(Token::new(s))
    }
}

/// `OWNER/REPO`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Repo {
    pub owner: String,
    pub name: String,
}

impl Repo {
    /// `OWNER/REPO`, each part by GitHub's rules (see [`crate::url_safe`]): `.` and `..`
    /// never name a repository.
    pub fn parse(text: &str) -> Option<Repo> {
        let (owner, name) = text.trim().split_once('/')?;
        (crate::url_safe::is_owner(owner) && crate::url_safe::is_repository_name(name)).then(|| {
            Repo {
                owner: owner.to_string(),
                name: name.to_string(),
            }
        })
    }

    /// `/repos/OWNER/REPO`, encoded.
    pub(crate) fn route(&self) -> String {
        format!(
            "/repos/{}/{}",
            crate::url_safe::encode_segment(&self.owner),
            crate::url_safe::encode_segment(&self.name)
        )
    }
}

impl fmt::Display for Repo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// `pending`, `success`, `failure` or `error`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Success,
    Failure,
    /// The gate could not judge (an invalid or unreadable policy).
    Error,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
        }
    }
}

/// A commit status to post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    pub state: State,
    pub context: String,
    /// At most 140 characters (GitHub answers 422 to longer ones).
    pub description: String,
    pub target_url: Option<String>,
}

/// A commit status as GitHub shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenStatus {
    /// `pending`, `success`, `failure` or `error` (anything else is kept as sent).
    pub state: String,
    pub description: Option<String>,
    /// When it was posted (`updated_at`, else `created_at`; a status is never edited, so
    /// both are the moment it was created). `None` when GitHub gave no readable time.
    pub at: Option<Timestamp>,
}

impl SeenStatus {
    /// `success`, `failure` or `error`: a verdict, not a wait.
    pub fn is_final(&self) -> bool {
        matches!(self.state.as_str(), "success" | "failure" | "error")
    }

    /// The same state and description as `status` (posting it again would change nothing).
    pub fn says(&self, status: &CommitStatus) -> bool {
        self.state == status.state.as_str()
            && self.description.as_deref() == Some(status.description.as_str())
    }
}

/// What a ref names in a repository the token can read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefLookup {
    /// The commit it points at.
    Commit(String),
    /// The repository can be read, and it has no such ref.
    NoSuchRef,
}

/// Statuses GitHub keeps per commit and context ("Note: there is a limit of 1000 statuses per
/// sha and context within a repository", REST docs, "Create a commit status").
pub const MAX_STATUSES_PER_CONTEXT: usize = 1000;

/// GitHub's 422 for a commit and context that reached [`MAX_STATUSES_PER_CONTEXT`].
fn is_status_limit(e: &GitHubError) -> bool {
    e.status == Some(422) && e.detail.contains("maximum number of statuses")
}

/// `sha` when it is a full commit SHA (the only commit value that goes into a URL: a SHA
/// from a batch, a pull request's head or the command line); else an error naming the call.
pub(crate) fn commit_sha<'a>(call: &'static str, sha: &'a str) -> Result<&'a str, GitHubError> {
    if crate::facts::is_full_sha(sha) {
        Ok(sha)
    } else {
        Err(GitHubError {
            call,
            status: None,
            detail: format!("`{}` is not a commit SHA", crate::text::clean(sha, 80)),
        })
    }
}

/// Contexts per page of the combined status (GitHub's maximum).
const CONTEXTS_PER_PAGE: usize = 100;
/// Pages of the combined status read at most: 1,000 contexts on one commit.
const MAX_CONTEXT_PAGES: u32 = 10;

/// A GitHub call that failed; names the call, says why.
#[derive(Debug, Error)]
#[error("GitHub {call} failed{}: {detail}", status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct GitHubError {
    pub call: &'static str,
    pub status: Option<u16>,
    pub detail: String,
}

pub struct GitHub {
    crab: Octocrab,
    /// Bound on each attempt of a call.
    timeout: Duration,
}

impl GitHub {
    /// A client for `api_url` (e.g. `https://api.github.com` or `https://HOST/api/v3`).
    pub fn new(api_url: &str, token: &Token, timeout: Duration) -> Result<GitHub, GitHubError> {
        let bad = |detail: String| GitHubError {
            call: "client setup",
            status: None,
            detail,
        };
        let crab = Octocrab::builder()
            .base_uri(api_url.trim_end_matches('/'))
            .map_err(|_| bad(format!("GITHUB_API_URL `{api_url}` is not a URL")))?
            .personal_token(token.expose().to_string())
            .set_connect_timeout(Some(timeout.min(Duration::from_secs(3))))
            .set_read_timeout(Some(timeout))
            .build()
            .map_err(|e| bad(e.to_string()))?;
        Ok(GitHub { crab, timeout })
    }

    /// Posts a commit status, retrying what is worth retrying.
    pub async fn post_status(
        &self,
        repo: &Repo,
        sha: &str,
        status: &CommitStatus,
    ) -> Result<(), GitHubError> {
        let state = match status.state {
            State::Pending => StatusState::Pending,
            State::Success => StatusState::Success,
            State::Failure => StatusState::Failure,
            State::Error => StatusState::Error,
        };
        // The SHA goes into the URL: only a commit SHA does.
        commit_sha("create commit status", sha)?;
        let posted = with_retries("create commit status", self.timeout, || async {
            let handler = self.crab.repos(&repo.owner, &repo.name);
            let mut request = handler
                .create_status(sha.to_string(), state)
                .context(status.context.clone())
                .description(status.description.clone());
            if let Some(url) = &status.target_url {
                request = request.target(url.clone());
            }
            request.send().await.map(|_| ())
        })
        .await;
        match posted {
            Err(e) if is_status_limit(&e) => self.at_status_limit(repo, sha, status, e).await,
            other => other,
        }
    }

    /// GitHub keeps at most 1,000 statuses per commit and context and refuses more (422).
    /// When the latest one already says what would be posted, nothing is lost: done. Else
    /// the error says what happened and what to do.
    async fn at_status_limit(
        &self,
        repo: &Repo,
        sha: &str,
        status: &CommitStatus,
        mut error: GitHubError,
    ) -> Result<(), GitHubError> {
        if let Ok(Some(seen)) = self.latest_status(repo, sha, &status.context).await
            && seen.says(status)
        {
            return Ok(());
        }
        error.detail = format!(
            "{}; GitHub keeps at most {MAX_STATUSES_PER_CONTEXT} statuses per commit and context, and commit {sha} has reached that for `{}`: no further status of this context can be posted on it (a new commit starts afresh)",
            error.detail,
            crate::text::clean(&status.context, 100)
        );
        Err(error)
    }

    /// The latest status of `context` on `sha`, or `None` when there is none.
    ///
    /// Read from the combined status (`GET /repos/{owner}/{repo}/commits/{ref}/status`),
    /// which holds the latest status of each context, one entry per context: the gate's is
    /// found among the commit's contexts (a handful), however many statuses were posted (the
    /// list endpoint holds every status, newest first, up to 1,000 per context). Pages of 100
    /// contexts, at most 10.
    pub async fn latest_status(
        &self,
        repo: &Repo,
        sha: &str,
        context: &str,
    ) -> Result<Option<SeenStatus>, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Combined {
            #[serde(default)]
            statuses: Vec<Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            context: Option<String>,
            state: String,
            description: Option<String>,
            created_at: Option<String>,
            updated_at: Option<String>,
        }
        #[derive(serde::Serialize)]
        struct Page {
            per_page: usize,
            page: u32,
        }
        const CALL: &str = "get combined commit status";
        let route = format!(
            "{}/commits/{}/status",
            repo.route(),
            crate::url_safe::encode_segment(sha)
        );
        for page in 1..=MAX_CONTEXT_PAGES {
            let query = Page {
                per_page: CONTEXTS_PER_PAGE,
                page,
            };
            let combined: Combined = with_retries(CALL, self.timeout, || async {
                self.crab.get(&route, Some(&query)).await
            })
            .await?;
            let count = combined.statuses.len();
            if let Some(entry) = combined
                .statuses
                .into_iter()
                .find(|e| e.context.as_deref() == Some(context))
            {
                let at = entry
                    .updated_at
                    .or(entry.created_at)
                    .and_then(|t| parse_iso8601(&t));
                return Ok(Some(SeenStatus {
                    state: entry.state,
                    description: entry.description,
                    at,
                }));
            }
            if count < CONTEXTS_PER_PAGE {
                return Ok(None);
            }
        }
        Err(GitHubError {
            call: CALL,
            status: None,
            detail: format!(
                "commit {sha} has more than {} status contexts; the gate's was not among them",
                CONTEXTS_PER_PAGE * MAX_CONTEXT_PAGES as usize
            ),
        })
    }

    /// The commit `git_ref` (a branch, tag or SHA) points at, through
    /// `GET /repos/{owner}/{repo}/commits/{ref}`. GitHub answers an unknown ref with 422 (or
    /// 404); the repository is then read to tell "no such ref" (it can be read) from "the
    /// repository cannot be read" (the error of that read).
    pub async fn commit_of(&self, repo: &Repo, git_ref: &str) -> Result<RefLookup, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Commit {
            sha: String,
        }
        let route = format!(
            "{}/commits/{}",
            repo.route(),
            crate::url_safe::encode_path(git_ref)
        );
        let found: Result<Commit, GitHubError> = with_retries("get a commit", self.timeout, || {
            self.crab.get(&route, None::<&()>)
        })
        .await;
        match found {
            Ok(commit) => Ok(RefLookup::Commit(commit.sha)),
            Err(e) if matches!(e.status, Some(404 | 422)) => {
                self.default_branch(repo).await?;
                Ok(RefLookup::NoSuchRef)
            }
            Err(e) => Err(e),
        }
    }

    /// A file's bytes at `commit`, through the contents API; `None` when nothing exists at
    /// that path (404). Call it with a commit [`GitHub::commit_of`] found, so that a 404 can
    /// only mean the path: the repository and the ref were read already. A directory, a
    /// submodule or a symlink at the path is an error, not an absent file.
    pub async fn file_at(
        &self,
        repo: &Repo,
        path: &str,
        commit: &str,
    ) -> Result<Option<Vec<u8>>, GitHubError> {
        #[derive(serde::Serialize)]
        struct Query<'a> {
            r#ref: &'a str,
        }
        const CALL: &str = "get repository content";
        let route = format!(
            "{}/contents/{}",
            repo.route(),
            crate::url_safe::encode_path(path)
        );
        let query = Query { r#ref: commit };
        let result: Result<serde_json::Value, GitHubError> =
            with_retries(CALL, self.timeout, || self.crab.get(&route, Some(&query))).await;
        let value = match result {
            Ok(value) => value,
            Err(e) if e.status == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let not_a_file = |what: &str| GitHubError {
            call: CALL,
            status: None,
            detail: format!("{path} is {what}, not a file"),
        };
        if value.is_array() {
            return Err(not_a_file("a directory"));
        }
        let kind = value.get("type").and_then(|t| t.as_str()).unwrap_or("");
        if kind != "file" {
            return Err(not_a_file(&format!("a `{}`", crate::text::clean(kind, 40))));
        }
        let file: octocrab::models::repos::Content =
            serde_json::from_value(value).map_err(|e| GitHubError {
                call: CALL,
                status: None,
                detail: format!("the answer is not a file's content: {e}"),
            })?;
        file.decoded_content()
            .map(|text| Some(text.into_bytes()))
            .ok_or_else(|| GitHubError {
                call: CALL,
                status: None,
                detail: format!("{path} is not a UTF-8 file the contents API could return"),
            })
    }

    /// The repository's default branch.
    pub async fn default_branch(&self, repo: &Repo) -> Result<String, GitHubError> {
        #[derive(serde::Deserialize)]
        struct Found {
            default_branch: Option<String>,
        }
        let route = repo.route();
        let found: Found = with_retries("get repository", self.timeout, || {
            self.crab.get(&route, None::<&()>)
        })
        .await?;
        found.default_branch.ok_or_else(|| GitHubError {
            call: "get repository",
            status: None,
            detail: "the answer names no default branch".into(),
        })
    }
}

/// Runs `call` up to [`MAX_ATTEMPTS`] times while its failure is worth retrying.
async fn with_retries<T, F, Fut>(
    name: &'static str,
    timeout: Duration,
    mut call: F,
) -> Result<T, GitHubError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, octocrab::Error>>,
{
    let mut attempt = 1;
    loop {
        let outcome = match tokio::time::timeout(timeout, call()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => classify(name, &e),
            Err(_) => Failure {
                error: GitHubError {
                    call: name,
                    status: None,
                    detail: format!("no answer within {} s", timeout.as_secs_f64()),
                },
                retry_after: Some(None),
            },
        };
        match outcome.retry_after {
            Some(wait) if attempt < MAX_ATTEMPTS => {
                let backoff = Duration::from_millis(250 * 2u64.pow(attempt - 1));
                tokio::time::sleep(wait.unwrap_or(backoff).min(MAX_RETRY_AFTER)).await;
                attempt += 1;
            }
            _ => {
                let mut error = outcome.error;
                if attempt > 1 {
                    error.detail = format!("{} (after {attempt} attempts)", error.detail);
                }
                return Err(error);
            }
        }
    }
}

struct Failure {
    error: GitHubError,
    /// `None`: do not retry. `Some(None)`: retry after the usual backoff.
    /// `Some(Some(d))`: retry after `d`, as the server asked.
    retry_after: Option<Option<Duration>>,
}

fn classify(call: &'static str, err: &octocrab::Error) -> Failure {
    match err {
        octocrab::Error::GitHub { source, .. } => {
            let status = source.status_code.as_u16();
            let retry_after = source
                .headers
                .as_ref()
                .and_then(|h| h.get("retry-after"))
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let secondary = source
                .message
                .to_ascii_lowercase()
                .contains("secondary rate limit");
            let retry = match status {
                500..=599 | 429 => Some(retry_after),
                403 if retry_after.is_some() || secondary => Some(retry_after),
                _ => None,
            };
            let mut detail = first_line(&source.message);
            if let Some(errors) = &source.errors {
                for e in errors {
                    if let Some(m) = e.get("message").and_then(|m| m.as_str()) {
                        detail.push_str("; ");
                        detail.push_str(&first_line(m));
                    }
                }
            }
            Failure {
                error: GitHubError {
                    call,
                    status: Some(status),
                    detail,
                },
                retry_after: retry,
            }
        }
        // Transport failures (refused, reset, timed out) and bodies that are not GitHub's
        // JSON (a load balancer's HTML 502) are worth another try.
        other => Failure {
            error: GitHubError {
                call,
                status: None,
                detail: first_line(&other.to_string()),
            },
            retry_after: Some(None),
        },
    }
}

fn first_line(text: &str) -> String {
    crate::text::clean(text.lines().next().unwrap_or_default(), 300)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_prints() {
        let token = Token::new("ghp_supersecret");
        assert_eq!(format!("{token:?}"), "Token(***)");
        assert_eq!(format!("{token}"), "***");
        assert_eq!(format!("{:?}", Some(token)), "Some(Token(***))");
    }

    #[test]
    fn repo_parses_owner_and_name_only() {
        assert_eq!(Repo::parse("acme/web").unwrap().to_string(), "acme/web");
        for bad in [
            "acme",
            "acme/",
            "/web",
            "acme/web/x",
            "acme/..",
            "ac me/web",
        ] {
            assert!(Repo::parse(bad).is_none(), "{bad}");
        }
    }
}
