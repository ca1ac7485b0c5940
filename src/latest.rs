//! The commit's latest batch speaks: of the batches of one commit and project, which one the
//! commit status is about, and whether a judged batch is superseded by another.
//!
//! "Latest" is the batch whose latest attempt is running, or else ended last — not the one
//! that started last: `RetryBuildBatch` keeps a batch's `startTime`, so an older batch
//! retried by hand is newer than a batch that started after it. Pure: no calls, no clock.

use crate::facts::{Batch, Timestamp};
use crate::history;

/// Where a batch stands in the order of "latest": a batch whose latest attempt runs comes
/// after every batch that ended; among ended batches, the later end comes after. Ties
/// (and batches whose end CodeBuild did not record) are ordered by when their latest
/// attempt started, then by id, so the choice never depends on the listing's order.
fn rank(batch: &Batch) -> (bool, Option<Timestamp>, Option<Timestamp>, &str) {
    let ended = history::ended_at(batch);
    let latest_start = history::attempts(batch).last().and_then(|a| a.started);
    (ended.is_none(), ended, latest_start, batch.id.as_str())
}

/// The batch that speaks for its commit among `batches` (meant to be one commit's batches
/// of one project): the one whose latest attempt is running, or else the one that ended
/// last. `None` when there are none.
pub fn latest<'a>(batches: impl IntoIterator<Item = &'a Batch>) -> Option<&'a Batch> {
    batches.into_iter().max_by(|a, b| rank(a).cmp(&rank(b)))
}

/// Whether `other` has an attempt that started after `ended` (strictly): it ran after the
/// judged attempt was over, so it is newer news about the commit. An attempt whose start
/// CodeBuild did not record cannot be placed and does not count.
fn started_after(other: &Batch, ended: Timestamp) -> Option<Timestamp> {
    history::attempts(other)
        .iter()
        .filter_map(|a| a.started)
        .filter(|&s| s > ended)
        .max()
}

/// The batch that supersedes `judged`, if any: another batch of the same project and
/// commit (from `others`; `judged` itself is skipped) with an attempt that started after
/// `judged`'s latest attempt ended. When several do, the one whose attempt started last.
///
/// Never superseded: a batch whose latest attempt is still running (it is the latest),
/// whose end is not recorded, or whose commit cannot be established (nothing to compare
/// with).
pub fn superseded_by<'a>(
    judged: &Batch,
    others: impl IntoIterator<Item = &'a Batch>,
) -> Option<&'a Batch> {
    let ended = history::ended_at(judged)?;
    let commit = judged.commit()?;
    others
        .into_iter()
        .filter(|b| b.id != judged.id && b.project == judged.project)
        .filter(|b| b.commit() == Some(commit))
        .filter_map(|b| Some((started_after(b, ended)?, b)))
        .max_by(|(x, a), (y, b)| x.cmp(y).then_with(|| a.id.cmp(&b.id)))
        .map(|(_, b)| b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{Phase, Status};

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
    const OTHER: &str = "fedcba9876543210fedcba9876543210fedcba98";

    /// A batch of project `p` on `sha`, started at `start`, ended at `end` (`None`: running).
    fn b(id: &str, sha: &str, start: i64, end: Option<i64>) -> Batch {
        Batch {
            id: id.into(),
            project: "p".into(),
            status: Some(if end.is_some() {
                Status::Failed
            } else {
                Status::InProgress
            }),
            complete: end.is_some(),
            resolved_source_version: Some(sha.into()),
            start_time: Some(Timestamp(start)),
            end_time: end.map(Timestamp),
            ..Batch::default()
        }
    }

    /// `batch` retried at `at` (a FAILED/RETRY marker), its new attempt ending at `end`.
    fn retried(mut batch: Batch, at: i64, end: Option<i64>) -> Batch {
        batch.phases.push(Phase {
            phase_type: "FAILED".into(),
            status: Some(Status::Other("RETRY".into())),
            start_time: Some(Timestamp(at - 1)),
            end_time: Some(Timestamp(at)),
            ..Phase::default()
        });
        batch.status = Some(if end.is_some() {
            Status::Succeeded
        } else {
            Status::InProgress
        });
        batch.complete = end.is_some();
        batch.end_time = end.map(Timestamp);
        batch
    }

    fn id(batch: Option<&Batch>) -> Option<&str> {
        batch.map(|b| b.id.as_str())
    }

    #[test]
    fn the_latest_is_the_one_that_ended_last_not_the_one_that_started_last() {
        let old = b("p:old", SHA, 0, Some(100));
        let new = b("p:new", SHA, 10, Some(50));
        assert_eq!(id(latest([&new, &old])), Some("p:old"));
        assert_eq!(id(latest([&old, &new])), Some("p:old"));
        // A retry keeps the start time: the old batch retried later is the latest.
        let a = retried(b("p:a", SHA, 0, Some(20)), 200, Some(300));
        let c = b("p:c", SHA, 100, Some(150));
        assert_eq!(id(latest([&c, &a])), Some("p:a"));
        assert_eq!(id(latest(std::iter::empty::<&Batch>())), None);
    }

    #[test]
    fn a_running_batch_is_the_latest() {
        let ended = b("p:ended", SHA, 50, Some(500));
        let running = b("p:running", SHA, 0, None);
        assert_eq!(id(latest([&running, &ended])), Some("p:running"));
        assert_eq!(id(latest([&ended, &running])), Some("p:running"));
        // Two ended at the same moment: the later latest attempt start, then the id.
        let x = b("p:x", SHA, 10, Some(100));
        let y = b("p:y", SHA, 20, Some(100));
        assert_eq!(id(latest([&y, &x])), Some("p:y"));
        let z = b("p:z", SHA, 20, Some(100));
        assert_eq!(id(latest([&z, &y])), Some("p:z"));
    }

    #[test]
    fn superseded_by_an_attempt_that_started_after_the_judged_one_ended() {
        let judged = b("p:judged", SHA, 0, Some(100));
        // Started before the judged one ended: not newer news.
        let overlapping = b("p:overlap", SHA, 50, Some(400));
        assert_eq!(id(superseded_by(&judged, [&overlapping])), None);
        // Started at the very moment it ended: not after it.
        let at_end = b("p:at-end", SHA, 100, Some(400));
        assert_eq!(id(superseded_by(&judged, [&at_end])), None);
        let after = b("p:after", SHA, 101, None);
        assert_eq!(
            id(superseded_by(&judged, [&overlapping, &after])),
            Some("p:after")
        );
        // An older batch retried after the judged one ended supersedes it too.
        let older = retried(b("p:older", SHA, -50, Some(-10)), 150, None);
        assert_eq!(id(superseded_by(&judged, [&older])), Some("p:older"));
        // Of several, the one whose attempt started last.
        assert_eq!(
            id(superseded_by(&judged, [&older, &after])),
            Some("p:older")
        );
        assert_eq!(
            id(superseded_by(&judged, [&after, &older])),
            Some("p:older")
        );
    }

    #[test]
    fn only_the_same_commit_and_project_and_never_a_running_batch() {
        let judged = b("p:judged", SHA, 0, Some(100));
        let other_commit = b("p:other", OTHER, 200, Some(300));
        let mut other_project = b("q:same", SHA, 200, Some(300));
        other_project.project = "q".into();
        let itself = b("p:judged", SHA, 200, Some(300));
        assert_eq!(
            id(superseded_by(
                &judged,
                [&other_commit, &other_project, &itself]
            )),
            None
        );
        let newer = b("p:newer", SHA, 200, Some(300));
        let running = b("p:judged", SHA, 0, None);
        assert_eq!(id(superseded_by(&running, [&newer])), None);
        let mut no_commit = judged.clone();
        no_commit.resolved_source_version = None;
        assert_eq!(id(superseded_by(&no_commit, [&newer])), None);
        let mut untimed = newer.clone();
        untimed.start_time = None;
        assert_eq!(id(superseded_by(&judged, [&untimed])), None);
        assert_eq!(id(superseded_by(&judged, [&newer])), Some("p:newer"));
    }
}
