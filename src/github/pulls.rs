//! The GitHub side of "pull requests CodeBuild will not build": open pull requests, their
//! changed files, their head commit's message, and the contexts of the statuses on a commit.
//! Kept apart from the rest of the GitHub side: only `reconcile` reads these.
//!
//! GitHub documents for "List pull requests files": "Responses include a maximum of 3000
//! files. The paginated response returns 30 files per page by default" (100 at most): a pull
//! request with 3,000 files listed may have more, and its files are then not known.

use serde::{Deserialize, Serialize};

use super::{GitHub, GitHubError, Repo, commit_sha, with_retries};

/// Pull requests read per page (GitHub's maximum).
const PER_PAGE: usize = 100;
/// Pages of open pull requests read at most: 1,000 pull requests.
pub const MAX_PULL_PAGES: u32 = 10;
/// GitHub lists at most this many files of a pull request.
pub const MAX_LISTED_FILES: usize = 3000;

/// An open pull request, as far as its filters need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub number: u64,
    pub head_sha: String,
    pub head_ref: String,
    pub base_ref: String,
    /// The author's account id.
    pub author_id: Option<u64>,
    /// The head branch is in another repository (a fork).
    pub from_fork: bool,
    pub state: String,
    /// `changed_files`, when GitHub sent it (only for a single pull request).
    pub changed_files: Option<u64>,
    /// `updated_at` (RFC 3339).
    pub updated_at: Option<String>,
}

#[derive(Deserialize)]
struct RawPull {
    number: u64,
    state: String,
    head: RawBranch,
    base: RawBranch,
    user: Option<RawUser>,
    changed_files: Option<u64>,
    updated_at: Option<String>,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    name: String,
    sha: String,
    repo: Option<RawRepo>,
}

#[derive(Deserialize)]
struct RawRepo {
    full_name: Option<String>,
}

#[derive(Deserialize)]
struct RawUser {
    id: Option<u64>,
}

impl RawPull {
    fn into_pull(self, repo: &Repo) -> Pull {
        let base_repo = self
            .base
            .repo
            .as_ref()
            .and_then(|r| r.full_name.clone())
            .unwrap_or_else(|| repo.to_string());
        let head_repo = self.head.repo.as_ref().and_then(|r| r.full_name.clone());
        Pull {
            number: self.number,
            head_sha: self.head.sha,
            head_ref: self.head.name,
            base_ref: self.base.name,
            author_id: self.user.and_then(|u| u.id),
            // A deleted fork has no repository: count it as a fork.
            from_fork: head_repo.is_none_or(|h| !h.eq_ignore_ascii_case(&base_repo)),
            state: self.state,
            changed_files: self.changed_files,
            updated_at: self.updated_at,
        }
    }
}

#[derive(Serialize)]
struct Page<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<&'a str>,
    per_page: usize,
    page: u32,
}

/// The contexts on a commit, with their latest state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    pub context: String,
    pub state: String,
    pub description: Option<String>,
}

impl GitHub {
    /// The repository's open pull requests, oldest first as GitHub lists them by default
    /// (newest first); at most [`MAX_PULL_PAGES`] pages. Returns them and whether the list
    /// was cut.
    pub async fn open_pulls(&self, repo: &Repo) -> Result<(Vec<Pull>, bool), GitHubError> {
        const CALL: &str = "list pull requests";
        let route = format!("{}/pulls", repo.route());
        let mut pulls = Vec::new();
        for page in 1..=MAX_PULL_PAGES {
            let query = Page {
                state: Some("open"),
                per_page: PER_PAGE,
                page,
            };
            let list: Vec<RawPull> = with_retries(CALL, self.timeout, || async {
                self.crab.get(&route, Some(&query)).await
            })
            .await?;
            let n = list.len();
            pulls.extend(list.into_iter().map(|p| p.into_pull(repo)));
            if n < PER_PAGE {
                return Ok((pulls, false));
            }
        }
        Ok((pulls, true))
    }

    /// One pull request, or `None` when it does not exist.
    pub async fn pull(&self, repo: &Repo, number: u64) -> Result<Option<Pull>, GitHubError> {
        let route = format!("{}/pulls/{number}", repo.route());
        let result: Result<RawPull, GitHubError> =
            with_retries("get a pull request", self.timeout, || async {
                self.crab.get(&route, None::<&()>).await
            })
            .await;
        match result {
            Ok(p) => Ok(Some(p.into_pull(repo))),
            Err(e) if e.status == Some(404) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The paths of a pull request's changed files (a rename with both its names), or
    /// `Ok(None)` when GitHub cannot list them all ([`MAX_LISTED_FILES`]).
    pub async fn pull_files(
        &self,
        repo: &Repo,
        number: u64,
    ) -> Result<Option<Vec<String>>, GitHubError> {
        #[derive(Deserialize)]
        struct File {
            filename: String,
            previous_filename: Option<String>,
        }
        const CALL: &str = "list pull request files";
        let route = format!("{}/pulls/{number}/files", repo.route());
        let mut paths = Vec::new();
        let mut listed = 0;
        for page in 1..=(MAX_LISTED_FILES / PER_PAGE) as u32 {
            let query = Page {
                state: None,
                per_page: PER_PAGE,
                page,
            };
            let files: Vec<File> = with_retries(CALL, self.timeout, || async {
                self.crab.get(&route, Some(&query)).await
            })
            .await?;
            let n = files.len();
            listed += n;
            for f in files {
                paths.push(f.filename);
                paths.extend(f.previous_filename);
            }
            if n < PER_PAGE {
                return Ok(Some(paths));
            }
        }
        // 3,000 files listed: there may be more that GitHub does not list.
        let _ = listed;
        Ok(None)
    }

    /// The message of a commit (`GET /repos/{owner}/{repo}/git/commits/{sha}`).
    pub async fn commit_message(&self, repo: &Repo, sha: &str) -> Result<String, GitHubError> {
        #[derive(Deserialize)]
        struct Commit {
            message: String,
        }
        const CALL: &str = "get a commit";
        let route = format!("{}/git/commits/{}", repo.route(), commit_sha(CALL, sha)?);
        let commit: Commit = with_retries(CALL, self.timeout, || async {
            self.crab.get(&route, None::<&()>).await
        })
        .await?;
        Ok(commit.message)
    }

    /// Every context on a commit with its latest status (the combined status, pages of 100,
    /// at most 10).
    pub async fn contexts(&self, repo: &Repo, sha: &str) -> Result<Vec<Context>, GitHubError> {
        #[derive(Deserialize)]
        struct Combined {
            #[serde(default)]
            statuses: Vec<Entry>,
        }
        #[derive(Deserialize)]
        struct Entry {
            context: Option<String>,
            state: String,
            description: Option<String>,
        }
        const CALL: &str = "get combined commit status";
        let route = format!("{}/commits/{}/status", repo.route(), commit_sha(CALL, sha)?);
        let mut out = Vec::new();
        for page in 1..=10u32 {
            let query = Page {
                state: None,
                per_page: PER_PAGE,
                page,
            };
            let combined: Combined = with_retries(CALL, self.timeout, || async {
                self.crab.get(&route, Some(&query)).await
            })
            .await?;
            let n = combined.statuses.len();
            out.extend(combined.statuses.into_iter().filter_map(|e| {
                Some(Context {
                    context: e.context?,
                    state: e.state,
                    description: e.description,
                })
            }));
            if n < PER_PAGE {
                return Ok(out);
            }
        }
        Err(GitHubError {
            call: CALL,
            status: None,
            detail: format!("commit {sha} has more than 1000 status contexts"),
        })
    }
}
