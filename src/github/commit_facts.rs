//! GitHub's facts about a commit, for the `branches` and `pull-request-bases` selectors
//! (SPEC.md, "Policy file"): the branches whose head it is, and the pull requests associated
//! with it. Two reads, kept apart from the gate's other GitHub calls; each answers with
//! GitHub's own JSON shapes ([`crate::facts::github`] reads them, live and offline alike).

use super::{GitHub, GitHubError, Repo, commit_sha, with_retries};
use crate::facts::github::{BranchEntry, PullEntry};

/// Pull requests per page of `/commits/{sha}/pulls` (GitHub's maximum).
const PULLS_PER_PAGE: usize = 100;
/// Pages of `/commits/{sha}/pulls` read at most.
const MAX_PULL_PAGES: u32 = 3;

#[derive(serde::Serialize)]
struct Page {
    per_page: usize,
    page: u32,
}

impl GitHub {
    /// The branches whose head is `sha`:
    /// `GET /repos/{owner}/{repo}/commits/{sha}/branches-where-head` (one answer, not paged).
    pub async fn branches_where_head(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<BranchEntry>, GitHubError> {
        const CALL: &str = "list branches for HEAD commit";
        let route = format!(
            "{}/commits/{}/branches-where-head",
            repo.route(),
            commit_sha(CALL, sha)?
        );
        with_retries(CALL, self.timeout, || async {
            self.crab.get(&route, None::<&()>).await
        })
        .await
    }

    /// The pull requests GitHub associates with `sha`: `GET
    /// /repos/{owner}/{repo}/commits/{sha}/pulls` (pages of 100, at most 3). GitHub lists open
    /// and merged ones; which are open with `sha` as their head is for the caller to pick
    /// ([`crate::facts::github::open_pull_request_bases`]). More than 300 is an error: the
    /// list would be incomplete.
    pub async fn commit_pulls(
        &self,
        repo: &Repo,
        sha: &str,
    ) -> Result<Vec<PullEntry>, GitHubError> {
        const CALL: &str = "list pull requests associated with a commit";
        let route = format!("{}/commits/{}/pulls", repo.route(), commit_sha(CALL, sha)?);
        let mut all = Vec::new();
        for page in 1..=MAX_PULL_PAGES {
            let query = Page {
                per_page: PULLS_PER_PAGE,
                page,
            };
            let pulls: Vec<PullEntry> = with_retries(CALL, self.timeout, || async {
                self.crab.get(&route, Some(&query)).await
            })
            .await?;
            let count = pulls.len();
            all.extend(pulls);
            if count < PULLS_PER_PAGE {
                return Ok(all);
            }
        }
        Err(GitHubError {
            call: CALL,
            status: None,
            detail: format!(
                "commit {sha} is associated with more than {} pull requests; the list would be incomplete",
                PULLS_PER_PAGE * MAX_PULL_PAGES as usize
            ),
        })
    }
}
