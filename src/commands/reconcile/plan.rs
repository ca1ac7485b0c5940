//! Which of a project's listed batches `reconcile` looks at, and what it does with each once
//! the gate's statuses are read: pure planning over the facts and the statuses, no calls.

use std::collections::BTreeMap;

use crate::commands::report::{self, Commit};
use crate::facts::{Batch, Timestamp};
use crate::github::{GitHubError, Repo, SeenStatus};
use crate::history;
use crate::latest;
use crate::render::reconcile::{Did, Found, Row};

/// What to do with one listed batch, before anything is read from GitHub.
#[derive(Debug)]
pub enum Plan {
    /// Left alone, for the reason in the row.
    Leave(Row),
    /// Ended in the window: read the gate's status on its commit, then maybe judge it.
    Check {
        batch: Batch,
        repo: Repo,
        commit: Commit,
    },
}

/// What to do with one batch once the gate's statuses are read.
pub enum Step {
    Done(Row),
    /// Its gate status is missing, pending or stale (`seen`): judge it.
    Judge {
        batch: Batch,
        repo: Repo,
        commit: Commit,
        seen: Option<SeenStatus>,
    },
}

/// A failed batch that ended: its judgment counts retries in the project's history.
pub fn needs_history(batch: &Batch) -> bool {
    batch.complete && batch.status.as_ref().is_some_and(|s| s.is_failure())
}

/// Plans each batch: still running; ended before the window (counted, not shown); commit
/// unknown; not its commit's latest batch ([`latest::latest`]: the one whose latest attempt
/// runs, or else ended last — a retry keeps a batch's start time, so the start says
/// nothing); no repository; else checked. The plans come oldest end first (running
/// batches last), so that failures are settled oldest first and the retries made for
/// them count toward the budgets of the batches judged after them. Returns the plans and
/// how many ended before the window.
pub fn triage<'a>(
    batches: impl Iterator<Item = &'a Batch>,
    window_start: Timestamp,
    repository: Option<&str>,
) -> (Vec<Plan>, usize) {
    let batches: Vec<(&Batch, Option<Timestamp>)> =
        batches.map(|b| (b, history::ended_at(b))).collect();
    // Each commit's batches, for its latest.
    let mut by_commit: BTreeMap<&str, Vec<&Batch>> = BTreeMap::new();
    for (b, _) in &batches {
        if let Some(commit) = b.commit() {
            by_commit.entry(commit).or_default().push(b);
        }
    }
    let latest_of: BTreeMap<&str, &str> = by_commit
        .iter()
        .filter_map(|(commit, list)| {
            Some((*commit, latest::latest(list.iter().copied())?.id.as_str()))
        })
        .collect();
    let mut ordered = batches;
    ordered.sort_by(|(a, a_end), (b, b_end)| {
        (a_end.is_none(), a_end, &a.id).cmp(&(b_end.is_none(), b_end, &b.id))
    });
    let mut plans = Vec::new();
    let mut older = 0;
    for (batch, ended) in ordered {
        let commit = report::commit(batch, &[]).ok().flatten();
        let newer = batch
            .commit()
            .and_then(|c| latest_of.get(c).copied())
            .filter(|latest| *latest != batch.id);
        let plan = match ended {
            None => Plan::Leave(row(batch, Found::Running, "still running")),
            Some(ended) if ended < window_start => {
                older += 1;
                continue;
            }
            Some(_) => match (commit, newer) {
                (None, _) => Plan::Leave(row(
                    batch,
                    Found::NoCommit,
                    "its commit cannot be established (no resolvedSourceVersion, and its sourceVersion is not a commit SHA): the gate reports only on the commit a batch built",
                )),
                (Some(_), Some(newer)) => Plan::Leave(row(
                    batch,
                    Found::Superseded,
                    &format!(
                        "batch {newer} is its commit's latest (its latest attempt runs or ended last): the commit's status is that batch's"
                    ),
                )),
                (Some(commit), None) => {
                    match report::repository(repository.map(str::to_string), batch) {
                        Ok(repo) => Plan::Check {
                            batch: batch.clone(),
                            repo,
                            commit,
                        },
                        Err(e) => Plan::Leave(row(batch, Found::NoRepository, &e.to_string())),
                    }
                }
            },
        };
        plans.push(plan);
    }
    (plans, older)
}

/// A row for `batch`, left alone unless changed.
pub fn row(batch: &Batch, found: Found, note: &str) -> Row {
    Row {
        batch_id: batch.id.clone(),
        batch_status: batch.status.as_ref().map(|s| s.as_str().to_string()),
        commit: batch.commit().map(str::to_string),
        found,
        seen_state: None,
        did: Did::LeftAlone,
        posted_state: None,
        note: note.to_string(),
        decision: None,
    }
}

/// The gate's statuses read, by repository and commit.
pub type Seen = BTreeMap<(Repo, String), Result<Option<SeenStatus>, GitHubError>>;

/// What the statuses say: a final one posted after the batch's latest attempt ended leaves
/// it alone; a missing, pending or stale one has it judged; an unreadable one is a failure
/// of this batch (only).
pub fn steps(plans: Vec<Plan>, seen: &Seen) -> Vec<Step> {
    plans
        .into_iter()
        .map(|plan| match plan {
            Plan::Leave(row) => Step::Done(row),
            Plan::Check {
                batch,
                repo,
                commit,
            } => match seen.get(&(repo.clone(), commit.sha.clone())) {
                None => Step::Done(Row {
                    did: Did::Failed,
                    note: "its status was not read".into(),
                    ..row(&batch, Found::Unreadable, "")
                }),
                Some(Err(e)) => Step::Done(Row {
                    did: Did::Failed,
                    note: e.to_string(),
                    ..row(&batch, Found::Unreadable, "")
                }),
                Some(Ok(Some(status))) if status.is_final() && !is_stale(status, &batch) => {
                    Step::Done(Row {
                        seen_state: Some(status.state.clone()),
                        ..row(&batch, Found::Final, "the gate's status is final")
                    })
                }
                Some(Ok(status)) => Step::Judge {
                    batch,
                    repo,
                    commit,
                    seen: status.clone(),
                },
            },
        })
        .collect()
}

pub use report::{already_says, is_stale};

/// What a status read found for `batch`: none, a stale final one, or `pending` (or another
/// non-final state).
pub fn found_of(seen: Option<&SeenStatus>, batch: &Batch) -> Found {
    match seen {
        None => Found::Missing,
        Some(s) if s.is_final() && is_stale(s, batch) => Found::Stale,
        Some(_) => Found::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::reconcile::HOUR_MS;
    use crate::facts::Status;

    const H: i64 = HOUR_MS;

    fn batch(
        id: &str,
        status: &str,
        start_h: i64,
        end_h: Option<i64>,
        commit: Option<&str>,
    ) -> Batch {
        Batch {
            id: id.into(),
            project: "acme-api".into(),
            status: Some(Status::parse(status)),
            complete: end_h.is_some(),
            start_time: Some(Timestamp(start_h * H)),
            end_time: end_h.map(|h| Timestamp(h * H)),
            resolved_source_version: commit.map(str::to_string),
            source_version: Some("pr/1".into()),
            source_location: Some("https://github.com/acme/api.git".into()),
            ..Batch::default()
        }
    }

    fn sha(c: char) -> String {
        c.to_string().repeat(40)
    }

    #[test]
    fn batches_are_planned_oldest_end_first_and_only_a_commits_latest_is_checked() {
        let (a, b, c, d, e) = (sha('a'), sha('b'), sha('c'), sha('d'), sha('e'));
        let batches = [
            // Hours since some origin; the window starts at hour 100.
            batch("p:running", "IN_PROGRESS", 105, None, Some(&a)),
            batch("p:ended", "FAILED", 101, Some(102), Some(&b)),
            batch("p:older", "FAILED", 90, Some(95), Some(&c)),
            batch("p:long", "SUCCEEDED", 80, Some(101), Some(&d)),
            batch("p:no-commit", "FAILED", 103, Some(104), None),
            batch("p:superseded", "FAILED", 99, Some(100), Some(&b)),
            batch("p:under-running", "FAILED", 98, Some(101), Some(&a)),
            batch("p:e", "SUCCEEDED", 97, Some(104), Some(&e)),
            // Started first, ended last: the latest of its commit (not the one that
            // started last).
            batch("p:f-first", "FAILED", 90, Some(103), Some(&sha('f'))),
            batch("p:f-second", "SUCCEEDED", 101, Some(102), Some(&sha('f'))),
        ];
        let (plans, older) = triage(batches.iter(), Timestamp(100 * H), None);
        assert_eq!(older, 1);
        let shown: Vec<(String, String)> = plans
            .iter()
            .map(|p| match p {
                Plan::Leave(r) => (r.batch_id.clone(), r.found.as_str().to_string()),
                Plan::Check {
                    batch,
                    repo,
                    commit,
                } => {
                    assert_eq!(repo.to_string(), "acme/api");
                    assert!(commit.verified);
                    (batch.id.clone(), "check".to_string())
                }
            })
            .collect();
        let expected = [
            ("p:superseded", "superseded"),
            ("p:long", "check"),
            ("p:under-running", "superseded"),
            ("p:ended", "check"),
            ("p:f-second", "superseded"),
            ("p:f-first", "check"),
            ("p:e", "check"),
            ("p:no-commit", "no commit"),
            ("p:running", "running"),
        ];
        assert_eq!(shown, expected.map(|(a, b)| (a.to_string(), b.to_string())),);
    }

    #[test]
    fn the_repository_given_wins_and_a_batch_without_one_is_left_alone() {
        let mut b = batch("p:1", "FAILED", 101, Some(102), Some(&sha('a')));
        let (plans, _) = triage([&b].into_iter(), Timestamp(100 * H), Some("acme/web"));
        assert!(matches!(&plans[0], Plan::Check { repo, .. } if repo.to_string() == "acme/web"));
        b.source_location = Some("s3://bucket/source.zip".into());
        let (plans, _) = triage([&b].into_iter(), Timestamp(100 * H), None);
        assert!(
            matches!(&plans[0], Plan::Leave(r) if r.found == Found::NoRepository && r.note.contains("--repository")),
            "{plans:?}"
        );
    }

    #[test]
    fn final_statuses_are_left_alone_and_missing_pending_or_stale_ones_judged() {
        let repo = Repo::parse("acme/api").unwrap();
        // Posted at the batch's end (hour 102) or later: final; an hour before it: stale.
        let status = |state: &str, at: Option<i64>| SeenStatus {
            state: state.into(),
            description: Some("d".into()),
            at: at.map(|h| Timestamp(h * H)),
        };
        let reads: [(char, Result<Option<SeenStatus>, GitHubError>); 9] = [
            ('a', Ok(None)),
            ('b', Ok(Some(status("pending", Some(101))))),
            ('c', Ok(Some(status("success", Some(102))))),
            ('d', Ok(Some(status("failure", Some(103))))),
            ('e', Ok(Some(status("error", None)))),
            ('1', Ok(Some(status("success", Some(101))))),
            ('2', Ok(Some(status("failure", Some(101))))),
            ('3', Ok(Some(status("error", Some(101))))),
            (
                'f',
                Err(GitHubError {
                    call: "get combined commit status",
                    status: Some(502),
                    detail: "Bad Gateway".into(),
                }),
            ),
        ];
        let batches: Vec<Batch> = reads
            .iter()
            .map(|(c, _)| batch(&format!("p:{c}"), "FAILED", 101, Some(102), Some(&sha(*c))))
            .collect();
        let (plans, _) = triage(batches.iter(), Timestamp(100 * H), None);
        let seen: Seen = reads
            .into_iter()
            .map(|(c, read)| ((repo.clone(), sha(c)), read))
            .collect();
        let outcome: Vec<String> = steps(plans, &seen)
            .into_iter()
            .map(|step| match step {
                Step::Done(r) => format!("{} {} {}", r.batch_id, r.found.as_str(), r.did.as_str()),
                Step::Judge { batch, seen, .. } => format!(
                    "{} judge {} {}",
                    batch.id,
                    found_of(seen.as_ref(), &batch).as_str(),
                    seen.map_or("-".to_string(), |s| s.state)
                ),
            })
            .collect();
        assert_eq!(
            outcome,
            [
                "p:1 judge stale success",
                "p:2 judge stale failure",
                "p:3 judge stale error",
                "p:a judge no status -",
                "p:b judge pending pending",
                "p:c final left alone",
                "p:d final left alone",
                "p:e final left alone",
                "p:f unreadable failed",
            ]
        );
    }
}
