//! GitHub's facts about the batch's commit, read live for rules with `branches` or
//! `pull-request-bases` (SPEC.md, "Policy file"): the `status` event's `branches` when the
//! event names this commit, else `branches-where-head`; and the open pull requests headed by
//! the commit. Both reads run together, and together with CodeBuild's, so the gate's round
//! trips do not grow. A read that fails is recorded as unreadable, with why — never an error
//! that ends the run.

use crate::decide::GithubNeeds;
use crate::facts::Fetched;
use crate::facts::github::{
    BranchEntry, EVENT_BRANCHES_MAX, GitHubFacts, Listed, branch_names, open_pull_request_bases,
};
use crate::github::{GitHub, Repo};

/// Where the branches of a status event come from, as the verdicts name it.
pub const FROM_EVENT: &str = "the status event";
/// Where branches read from GitHub come from.
pub const FROM_BRANCHES_WHERE_HEAD: &str = "GitHub (branches whose head it is)";
/// Where pull requests read from GitHub come from.
pub const FROM_COMMIT_PULLS: &str = "GitHub (open pull requests headed by it)";

/// What the live read of GitHub's facts has to go on.
pub struct Source<'a> {
    /// The client, or why there is none (e.g. no token).
    pub github: Result<&'a GitHub, String>,
    /// The repository, or why it is unknown.
    pub repo: Result<&'a Repo, String>,
    /// The batch's commit (`None`: it cannot be established).
    pub commit: Option<&'a str>,
    /// The `status` event's `branches`, when the event names this commit.
    pub event_branches: Option<&'a [BranchEntry]>,
}

/// Reads what `needs` asks for; nothing when it asks for nothing.
pub async fn read(needs: GithubNeeds, source: Source<'_>) -> GitHubFacts {
    let mut facts = GitHubFacts {
        commit: source.commit.map(str::to_string),
        ..GitHubFacts::default()
    };
    if !needs.branches && !needs.pulls {
        return facts;
    }
    let ready = match (source.commit, &source.repo, &source.github) {
        (None, _, _) => Err(
            "the batch's commit is unknown (no resolvedSourceVersion, and sourceVersion is not a commit SHA)"
                .to_string(),
        ),
        (_, Err(why), _) => Err(why.clone()),
        (Some(sha), Ok(repo), Ok(github)) => Ok((sha, *repo, *github)),
        (_, _, Err(why)) => Err(why.clone()),
    };
    let event_branches = source.event_branches;
    let (branches, pulls) = match ready {
        Err(why) => (
            needs
                .branches
                .then(|| unread_branches(event_branches, &why)),
            needs.pulls.then(|| Fetched::Unreadable(why.clone())),
        ),
        Ok((sha, repo, github)) => {
            let branches = async {
                if !needs.branches {
                    return None;
                }
                Some(match event_branches {
                    Some(list) => Fetched::Known(from_event(list)),
                    None => match github.branches_where_head(repo, sha).await {
                        Ok(list) => Fetched::Known(Listed::new(
                            branch_names(&list),
                            FROM_BRANCHES_WHERE_HEAD,
                        )),
                        Err(e) => Fetched::Unreadable(e.to_string()),
                    },
                })
            };
            let pulls = async {
                if !needs.pulls {
                    return None;
                }
                Some(match github.commit_pulls(repo, sha).await {
                    Ok(list) => Fetched::Known(Listed::new(
                        open_pull_request_bases(&list, sha),
                        FROM_COMMIT_PULLS,
                    )),
                    Err(e) => Fetched::Unreadable(e.to_string()),
                })
            };
            tokio::join!(branches, pulls)
        }
    };
    facts.branches = branches;
    facts.pull_request_bases = pulls;
    facts
}

/// The branches when GitHub cannot be asked: the event's, if it named them, else unreadable.
fn unread_branches(event: Option<&[BranchEntry]>, why: &str) -> Fetched<Listed> {
    match event {
        Some(list) => Fetched::Known(from_event(list)),
        None => Fetched::Unreadable(why.to_string()),
    }
}

/// The event's branches: at most [`EVENT_BRANCHES_MAX`], so a full list may be cut.
fn from_event(list: &[BranchEntry]) -> Listed {
    Listed::new(branch_names(list), FROM_EVENT).cut_at(list.len(), EVENT_BRANCHES_MAX)
}
