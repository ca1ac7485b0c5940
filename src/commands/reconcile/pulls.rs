//! `reconcile` step 2: pull requests CodeBuild will never build. A required check
//! `codebuild/retry-gate (PROJECT)` on a pull request that the project's own webhook filters
//! skip (a docs-only change under a `FILE_PATH` filter, say) would stay "Expected" forever.
//! For each open pull request (or only `--pull-request N`) whose head commit has no batch of
//! the project and no gate status, the project's webhook (`BatchGetProjects`) is judged by
//! [`crate::webhook::judge`]; only when no filter group can pass for any of the pull
//! request's events is `success` "Not built: …" posted. Anything uncertain posts nothing.
//!
//! Reads: one `BatchGetProjects`; the open pull requests (or one); per candidate, the commit's
//! status contexts, then (only when a filter needs them) its changed files and head commit
//! message, [`MAX_CONCURRENT_PULLS`] pull requests at once.

use std::collections::BTreeSet;

use futures_util::StreamExt;

use crate::codebuild::{CodeBuild, ProjectSource};
use crate::facts::Timestamp;
use crate::github::{CommitStatus, GitHub, MAX_LISTED_FILES, Pull, Repo, State};
use crate::render::reconcile::{PullDid, PullRow, Pulls};
use crate::text::clean;
use crate::webhook::{self, Judgment, PullRequest, Webhook};

/// Pull requests judged at once.
pub const MAX_CONCURRENT_PULLS: usize = 4;
/// The prefix of CodeBuild's own status contexts (`AWS CodeBuild BuildBatch REGION (PROJECT)`).
pub const CODEBUILD_CONTEXT_PREFIX: &str = "AWS CodeBuild";

/// What step 2 needs from the run.
pub struct Step<'a> {
    pub github: &'a GitHub,
    pub codebuild: &'a CodeBuild,
    pub project: &'a str,
    /// The repository whose pull requests are judged.
    pub repo: Option<Repo>,
    /// The gate's status context for the project.
    pub context: &'a str,
    /// Commits that have a batch of the project among the batches read.
    pub built: &'a BTreeSet<String>,
    /// The batches read start here: a pull request last updated earlier may have a batch
    /// that was not read.
    pub listed_since: Timestamp,
    /// `--pull-request N`.
    pub only: Option<u64>,
    pub dry_run: bool,
    pub target_url: Option<String>,
}

/// The description of the status: "Not built: PROJECT's webhook filters do not match this
/// change", within GitHub's 140 characters.
pub fn description(project: &str) -> String {
    let rest = "'s webhook filters do not match this change";
    let room = 140 - "Not built: ".len() - rest.len();
    format!("Not built: {}{rest}", clean(project, room))
}

impl Step<'_> {
    pub async fn run(&self) -> Pulls {
        let mut out = Pulls::default();
        let Some(repo) = self.repo.clone() else {
            out.note = Some(
                "no repository to read pull requests from: set --repository or GITHUB_REPOSITORY"
                    .into(),
            );
            return out;
        };
        let source = match self.codebuild.project_source(self.project).await {
            Ok(Some(source)) => source,
            Ok(None) => {
                out.note = Some(format!(
                    "CodeBuild does not know project {}",
                    clean(self.project, 200)
                ));
                out.failed = true;
                return out;
            }
            Err(e) => {
                out.note = Some(e.to_string());
                out.failed = true;
                return out;
            }
        };
        let webhook = match judgeable(&source, &repo) {
            Ok(webhook) => webhook,
            Err(why) => {
                out.note = Some(format!("left alone: {why}"));
                return out;
            }
        };
        let pulls = match self.only {
            Some(number) => match self.github.pull(&repo, number).await {
                Ok(Some(pull)) => vec![pull],
                Ok(None) => {
                    out.note = Some(format!("pull request #{number} does not exist in {repo}"));
                    out.failed = true;
                    return out;
                }
                Err(e) => {
                    out.note = Some(e.to_string());
                    out.failed = true;
                    return out;
                }
            },
            None => match self.github.open_pulls(&repo).await {
                Ok((pulls, cut)) => {
                    if cut {
                        out.note = Some(format!(
                            "only the first {} open pull requests were read",
                            pulls.len()
                        ));
                    }
                    pulls
                }
                Err(e) => {
                    out.note = Some(e.to_string());
                    out.failed = true;
                    return out;
                }
            },
        };
        let (needs_files, needs_message) = webhook::needs(webhook);
        // FILE_PATH and COMMIT_MESSAGE are documented for GitHub pull request events, not for
        // GitHub Enterprise Server's (source type GITHUB_ENTERPRISE).
        let github_com = source.source_type.as_deref() == Some("GITHUB");
        let needs = Needs {
            files: needs_files,
            message: needs_message,
            github_com,
        };
        out.rows = futures_util::stream::iter(pulls)
            .map(|pull| self.judge(&repo, webhook, pull, needs))
            .buffered(MAX_CONCURRENT_PULLS)
            .collect()
            .await;
        out
    }

    async fn judge(&self, repo: &Repo, webhook: &Webhook, pull: Pull, needs: Needs) -> PullRow {
        let mut row = PullRow {
            number: pull.number,
            head_sha: pull.head_sha.clone(),
            did: PullDid::LeftAlone,
            note: String::new(),
        };
        let leave = |mut row: PullRow, note: String| {
            row.note = note;
            row
        };
        if pull.state != "open" {
            return leave(row, format!("it is {}", clean(&pull.state, 20)));
        }
        if self.built.contains(&pull.head_sha.to_ascii_lowercase()) {
            return leave(
                row,
                format!(
                    "its head commit has a batch of {}",
                    clean(self.project, 200)
                ),
            );
        }
        let updated = pull.updated_at.as_deref().and_then(parse_time);
        if updated.is_none_or(|u| u < self.listed_since) {
            return leave(
                row,
                "it was last updated before the batches read: a batch may have built it".into(),
            );
        }
        match self.github.contexts(repo, &pull.head_sha).await {
            Err(e) => {
                row.did = PullDid::Failed;
                return leave(row, e.to_string());
            }
            Ok(contexts) => {
                if contexts.iter().any(|c| c.context == self.context) {
                    return leave(row, "it has the gate's status".into());
                }
                if let Some(c) = contexts
                    .iter()
                    .find(|c| c.context.starts_with(CODEBUILD_CONTEXT_PREFIX))
                {
                    return leave(
                        row,
                        format!("CodeBuild reported on it ({})", clean(&c.context, 100)),
                    );
                }
            }
        }
        let files = if needs.files {
            match self.github.pull_files(repo, pull.number).await {
                Ok(Some(files)) => Ok(files),
                Ok(None) => Err(format!(
                    "GitHub lists at most {MAX_LISTED_FILES} changed files, and this pull request may have more"
                )),
                Err(e) => {
                    row.did = PullDid::Failed;
                    return leave(row, e.to_string());
                }
            }
        } else {
            Err("not read".into())
        };
        let head_message = if needs.message {
            match self.github.commit_message(repo, &pull.head_sha).await {
                Ok(message) => Ok(message),
                Err(e) => {
                    row.did = PullDid::Failed;
                    return leave(row, e.to_string());
                }
            }
        } else {
            Err("not read".into())
        };
        let facts = PullRequest {
            base_ref: pull.base_ref.clone(),
            head_ref: pull.head_ref.clone(),
            author_id: pull.author_id,
            files,
            head_message,
            github_com: needs.github_com,
        };
        match webhook::judge(Some(webhook), &facts) {
            Judgment::Built(why) => leave(row, format!("CodeBuild builds it: {why}")),
            Judgment::Uncertain(why) => leave(row, format!("not certain: {why}")),
            Judgment::NotBuilt => {
                let status = CommitStatus {
                    state: State::Success,
                    context: self.context.to_string(),
                    description: description(self.project),
                    target_url: self.target_url.clone(),
                };
                row.note = "no filter group of the webhook can pass for its events".into();
                if self.dry_run {
                    row.did = PullDid::WouldPost;
                    return row;
                }
                match self.github.post_status(repo, &pull.head_sha, &status).await {
                    Ok(()) => row.did = PullDid::NotBuilt,
                    Err(e) => {
                        row.did = PullDid::Failed;
                        row.note = format!("the commit status could not be posted: {e}");
                    }
                }
                row
            }
        }
    }
}

/// Which facts of a pull request the webhook's filters need.
#[derive(Debug, Clone, Copy)]
struct Needs {
    files: bool,
    message: bool,
    github_com: bool,
}

/// The webhook, if it can be judged for `repo`'s pull requests; else why not.
fn judgeable<'a>(source: &'a ProjectSource, repo: &Repo) -> Result<&'a Webhook, String> {
    match source.source_type.as_deref() {
        Some("GITHUB" | "GITHUB_ENTERPRISE") => {}
        other => {
            return Err(format!(
                "the project's source is not GitHub ({})",
                clean(other.unwrap_or("none"), 40)
            ));
        }
    }
    let named = source
        .location
        .as_deref()
        .and_then(crate::facts::github_repository_of)
        .is_some_and(|r| r.eq_ignore_ascii_case(&repo.to_string()));
    if !named {
        return Err(format!(
            "the project's source ({}) is not {repo}",
            clean(source.location.as_deref().unwrap_or("none"), 200)
        ));
    }
    webhook::judgeable(source.webhook.as_ref())
}

/// An RFC 3339 time as GitHub sends it.
fn parse_time(text: &str) -> Option<Timestamp> {
    let at =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .ok()
        .map(Timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_fits_githubs_140_characters() {
        assert_eq!(
            description("acme-api"),
            "Not built: acme-api's webhook filters do not match this change"
        );
        let long = "p".repeat(255);
        assert_eq!(description(&long).chars().count(), 140);
    }

    #[test]
    fn only_a_github_source_of_this_repository_is_judged() {
        let repo = Repo::parse("acme/web").unwrap();
        let source = |t: &str, loc: &str| ProjectSource {
            source_type: Some(t.into()),
            location: Some(loc.into()),
            webhook: Some(Webhook {
                build_type: Some("BUILD_BATCH".into()),
                ..Webhook::default()
            }),
        };
        assert!(judgeable(&source("GITHUB", "https://github.com/Acme/Web.git"), &repo).is_ok());
        assert!(judgeable(&source("GITHUB", "https://github.com/acme/api.git"), &repo).is_err());
        assert!(judgeable(&source("S3", "bucket/key.zip"), &repo).is_err());
        let mut none = source("GITHUB", "https://github.com/acme/web");
        none.webhook = None;
        assert!(judgeable(&none, &repo).is_err());
    }
}
