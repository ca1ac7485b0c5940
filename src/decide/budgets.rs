//! The batch-level limits: retries per commit, per project per day, and the outage brake,
//! counted from CodeBuild's own record of the project's batches.

use std::collections::BTreeSet;

use super::DAY_MS;
use crate::facts::{Batch, Facts, Timestamp};
use crate::policy::Policy;

/// Whether `at` lies in the `window_ms` before `now` (after its start, not after `now`).
fn within(at: Timestamp, now: Timestamp, window_ms: i64) -> bool {
    at <= now && at > Timestamp(now.0.saturating_sub(window_ms))
}

/// Retries of every batch of the project (this one included, any commit) made in the 24
/// hours before `now`, the moment of judgment, by the times of CodeBuild's retry markers.
/// A marker without a time counts, and so does every marker when `now` is unknown: the
/// limit is never loosened by a gap in the record.
pub(super) fn project_retries_in_a_day(facts: &Facts, now: Option<Timestamp>) -> u32 {
    let batch = &facts.batch;
    let mut seen = BTreeSet::new();
    let count = std::iter::once(batch)
        .chain(facts.history.iter().filter(|b| b.project == batch.project))
        .filter(|b| seen.insert(b.id.as_str()))
        .flat_map(Batch::retry_times)
        .filter(|&at| match (at, now) {
            (Some(at), Some(now)) => within(at, now, DAY_MS),
            _ => true,
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Other batches of the project, on other commits, with an attempt that ended in failure
/// (FAILED, FAULT or TIMED_OUT) within `window_ms` before `now`, the moment of judgment.
/// An attempt with no recorded time does not count: the brake is for failures seen
/// together, and a failure that cannot be placed in time was not seen with this one.
pub(super) fn other_failures(facts: &Facts, now: Option<Timestamp>, window_ms: i64) -> u32 {
    let batch = &facts.batch;
    let Some(now) = now else {
        return 0;
    };
    let commit = batch.commit();
    let mut seen = BTreeSet::from([batch.id.as_str()]);
    let count = facts
        .history
        .iter()
        .filter(|b| b.project == batch.project)
        .filter(|b| commit.is_none() || b.commit() != commit)
        .filter(|b| seen.insert(b.id.as_str()))
        .filter(|b| {
            b.failure_times()
                .into_iter()
                .flatten()
                .any(|at| within(at, now, window_ms))
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Retries already made on this commit of this project, within the look-back, counting this
/// batch; and how many batches that covers. Batches without a start time are counted (fail
/// closed); a batch whose commit is unknown is counted alone.
pub(super) fn commit_retries(policy: &Policy, facts: &Facts) -> (u32, usize) {
    let batch = &facts.batch;
    let mut total = batch.retries_recorded();
    let mut counted = 1;
    let Some(commit) = batch.commit() else {
        return (total, counted);
    };
    let window = i64::from(policy.budget.lookback_days) * DAY_MS;
    let mut seen = BTreeSet::from([batch.id.as_str()]);
    for other in &facts.history {
        let same = other.project == batch.project && other.commit() == Some(commit);
        let recent = match (batch.start_time, other.start_time) {
            (Some(now), Some(then)) => then.0 >= now.0.saturating_sub(window),
            _ => true,
        };
        if same && recent && seen.insert(other.id.as_str()) {
            total = total.saturating_add(other.retries_recorded());
            counted += 1;
        }
    }
    (total, counted)
}
