//! Judging a batch live: the facts CodeBuild holds about it, and acting on the decision
//! (the retry, with its idempotency token and CodeBuild's answer). Shared by `gate` and
//! `reconcile`, so that both judge and act exactly alike; their inputs, logs and reports
//! stay in the commands.

pub mod github_facts;
pub mod logs;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::codebuild::{AwsError, CodeBuild, ListPage, RetryResult, idempotency_token};
use crate::decision::Decision;
use crate::error::RunError;
use crate::facts::{Batch, Build, Facts, Phase, Status, Timestamp};
use crate::history::{self, Known, WalkEnd};
use crate::live::logs::LogReader;
use crate::policy::Policy;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub fn aws(e: AwsError) -> RunError {
    RunError::Runtime(e.to_string())
}

/// How long before a window's start a batch may have started and still have a retry or a
/// failed attempt in it: a build runs at most 36 h after queueing at most 8 h (a batch's own
/// time-out has no documented maximum). A retry made by hand longer than this after the
/// batch started is reached only through the per-commit look-back (see the notes on
/// `reconcile`'s `LONGEST_BATCH_HOURS`, the same bound).
pub const LONGEST_RUN_MS: i64 = 48 * 60 * 60 * 1000;

/// Now, from the system clock: the moment of judgment of `gate` and `reconcile`.
pub fn clock() -> Timestamp {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp(i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX))
}

/// How far back (by start time) the history must reach for `policy`'s budgets when the
/// gate judges `batch` at `now`: the per-commit look-back from the batch's start (which also
/// bounds the batches that may supersede it), and the windows that end at `now` — the 24
/// hours of the daily project budget and the brake's minutes (at most a day), with
/// [`LONGEST_RUN_MS`] before them for batches that started earlier and were retried or
/// failed inside them. The earlier of the two; `None` (read all, up to the page cap) when
/// the batch has no start time.
pub fn history_since(policy: &Policy, batch: &Batch, now: Timestamp) -> Option<Timestamp> {
    // And as far back as a `known-flaky-days` rule learns from.
    let flaky_days = policy
        .rules
        .iter()
        .filter_map(|r| r.tests.as_ref()?.known_flaky_days)
        .max()
        .unwrap_or(0);
    let days = i64::from(policy.budget.lookback_days.max(flaky_days).max(1));
    let lookback = batch.start_time?.0.saturating_sub(days * DAY_MS);
    let windows = now.0.saturating_sub(DAY_MS + LONGEST_RUN_MS);
    Some(Timestamp(lookback.min(windows)))
}

/// The facts about `batch`, judged at `now`: for a batch that ended, the project's history
/// (from `first`, the listing's first page, on; batches in `known` are not read again), back
/// to [`history_since`] — for the budgets, and to tell whether a newer batch of the commit
/// supersedes it — and, for a failed one, the builds of its failed groups, read together;
/// then, together again, the logs (`logs`) and test reports that a rule's `log` or `tests`
/// condition needs ([`crate::decide::needs()`]; none for a policy without them). A batch still
/// running is only waited for (or refused for its project), so nothing more is read for it.
pub async fn facts(
    codebuild: &CodeBuild,
    logs: &LogReader,
    policy: &Policy,
    batch: Batch,
    first: Result<ListPage, AwsError>,
    mut known: Known,
    now: Timestamp,
) -> Result<Facts, RunError> {
    let mut facts = Facts {
        batch,
        now: Some(now),
        ..Facts::default()
    };
    if history::ended_at(&facts.batch).is_none() {
        return Ok(facts);
    }
    let failed = facts.batch.status.as_ref().is_some_and(|s| s.is_failure());
    let first = first.map_err(aws)?;
    let build_ids: Vec<String> = facts
        .batch
        .groups
        .iter()
        .filter(|g| !g.ignore_failure && g.status().is_some_and(|s| s.is_failure()))
        .filter_map(|g| g.current.as_ref()?.build_id().map(str::to_string))
        .filter(|_| failed)
        .collect();
    let since = history_since(policy, &facts.batch, now);
    // The batch itself is known: the history walk must not read it again.
    known.insert(facts.batch.id.clone(), facts.batch.clone());
    let project = facts.batch.project.clone();
    let (builds, walked) = tokio::join!(
        codebuild.builds(&build_ids),
        history::walk(codebuild, &project, first, &mut known, since)
    );
    for build in builds.map_err(aws)? {
        facts.builds.insert(build.id.clone(), build);
    }
    facts.history_truncated = walked.map_err(aws)? == WalkEnd::Truncated;
    let current = facts.batch.id.clone();
    facts.history = known.into_values().filter(|b| b.id != current).collect();
    // Logs and test reports, only where a `log` or `tests` condition could change the
    // decision, read together (never an error: what cannot be read is recorded so).
    let wanted = crate::decide::needs(policy, &facts).logs;
    let builds: BTreeMap<String, Build> = wanted
        .keys()
        .filter_map(|id| Some((id.clone(), facts.builds.get(id)?.clone())))
        .collect();
    let (read, ()) = tokio::join!(
        logs.read(&wanted, &builds),
        crate::test_reports::read_for_tests(codebuild, policy, &mut facts)
    );
    facts.logs = read;
    Ok(facts)
}

/// `batch` as CodeBuild records it once retried at `at`: its open `FAILED` phase closed as
/// `FAILED`/`RETRY` at `at` (or such a marker added), running again (IN_PROGRESS, not
/// complete, no end). So a retry just made counts in every budget that reads the batch
/// afterwards (per batch, per commit, the project's day) before CodeBuild is read again.
pub fn as_retried(batch: &Batch, at: Timestamp) -> Batch {
    let mut again = batch.clone();
    let open_failed = again
        .phases
        .last()
        .is_some_and(|p| p.phase_type == "FAILED" && p.status.is_none());
    if !open_failed {
        again.phases.push(Phase {
            phase_type: "FAILED".into(),
            start_time: Some(at),
            ..Phase::default()
        });
    }
    if let Some(marker) = again.phases.last_mut() {
        marker.status = Some(Status::Other("RETRY".into()));
        marker.end_time = Some(at);
    }
    again.status = Some(Status::InProgress);
    again.complete = false;
    again.end_time = None;
    again
}

/// What acting on a `retry` decision did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retried {
    /// RetryBuildBatch took the retry (or replayed this token's earlier one).
    Yes,
    /// CodeBuild said no; the decision now says why (`wait` or `refuse`).
    No,
}

/// Calls RetryBuildBatch for a `retry` decision, with the token of this batch and attempt,
/// so two gates racing on one failure cause one retry. If CodeBuild rejects it, the batch is
/// read again: not failed any more → `wait` (someone else retried it); still failed →
/// `refuse` with CodeBuild's reason. A runtime failure is an error that says the retry may
/// or may not have happened.
pub async fn retry(
    codebuild: &CodeBuild,
    decision: &mut Decision,
    batch: &Batch,
) -> Result<Retried, RunError> {
    // The attempt travels with the decision to retry: without both, nothing is sent (never
    // an earlier attempt's token).
    let Some(order) = decision.retry_order() else {
        return Err(RunError::Runtime(format!(
            "internal: batch {} has no retry attempt to send (decision {}); nothing was retried",
            batch.id,
            decision.decision.as_str()
        )));
    };
    let used_before = order.attempt - 1;
    let token = idempotency_token(&batch.id, order.attempt);
    let answer = codebuild
        .retry(&batch.id, &token, decision.retry_type)
        .await
        .map_err(|e| {
            RunError::Runtime(format!(
                "{e}. The retry may not have happened; running the gate again is safe (it sends the same idempotency token)"
            ))
        })?;
    match answer {
        RetryResult::Retried(_) => Ok(Retried::Yes),
        RetryResult::NotRetryable(why) => {
            let now = codebuild
                .batches(std::slice::from_ref(&batch.id))
                .await
                .map_err(aws)?;
            // Retried elsewhere only when the batch says so: running again, or more retries
            // recorded than when it was judged. Anything else is CodeBuild's rejection.
            match now.first() {
                Some(b)
                    if b.status == Some(Status::InProgress)
                        || b.retries_recorded() > used_before =>
                {
                    decision.retried_elsewhere();
                }
                _ => decision.retry_rejected(&why),
            }
            Ok(Retried::No)
        }
    }
}

/// The waits before each re-read of a batch that is closing ([`is_closing`]): about 30 s in
/// all, most of the reads early, when CodeBuild is most likely to close it.
pub const CLOSING_WAITS: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

/// The batch has not ended, yet every build of it has: it reads `IN_PROGRESS` (or failed but
/// not `complete`) while every build group has a current build that ended (SUCCEEDED,
/// FAILED, FAULT, TIMED_OUT or STOPPED). CodeBuild closes such a batch moments later; a
/// status event (with `REPORT_INDIVIDUAL_BUILDS`, the last build's) can arrive first.
///
/// Not closing: a batch with no build groups yet (still reading its batch buildspec), a
/// group without a build (not started), a build IN_PROGRESS or `PENDING`, or a status the
/// gate does not know (it cannot tell that build ended).
pub fn is_closing(batch: &Batch) -> bool {
    let open = !batch.complete
        && batch
            .status
            .as_ref()
            .is_some_and(|s| *s == Status::InProgress || s.is_failure());
    let ended = |s: &Status| *s == Status::Succeeded || s.is_failure();
    open && !batch.groups.is_empty() && batch.groups.iter().all(|g| g.status().is_some_and(ended))
}

/// Re-reads a closing batch, waiting [`CLOSING_WAITS`] before each read, until it is no
/// longer closing (usually: CodeBuild closed it) or the waits are spent. Returns the last
/// read and how many reads it took.
pub async fn await_close(
    codebuild: &CodeBuild,
    mut batch: Batch,
) -> Result<(Batch, usize), RunError> {
    let mut reads = 0;
    for wait in CLOSING_WAITS {
        if !is_closing(&batch) {
            break;
        }
        tokio::time::sleep(wait).await;
        reads += 1;
        let id = batch.id.clone();
        match codebuild
            .batches(std::slice::from_ref(&id))
            .await
            .map_err(aws)?
            .into_iter()
            .find(|b| b.id == id)
        {
            Some(now) => batch = now,
            None => break,
        }
    }
    Ok((batch, reads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::{BuildSummary, Group, PENDING};

    fn group(status: Option<&str>) -> Group {
        Group {
            identifier: "g".into(),
            current: status.map(|s| BuildSummary {
                status: Some(Status::parse(s)),
                ..BuildSummary::default()
            }),
            ..Group::default()
        }
    }

    fn batch(status: &str, complete: bool, groups: &[Option<&str>]) -> Batch {
        Batch {
            status: Some(Status::parse(status)),
            complete,
            groups: groups.iter().map(|s| group(*s)).collect(),
            ..Batch::default()
        }
    }

    #[test]
    fn a_batch_whose_builds_all_ended_is_closing() {
        let ended = [Some("SUCCEEDED"), Some("FAILED"), Some("STOPPED")];
        assert!(is_closing(&batch("IN_PROGRESS", false, &ended)));
        assert!(is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("SUCCEEDED")]
        )));
        assert!(is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("TIMED_OUT"), Some("FAULT")]
        )));
        // Failed (fast-fail) and still not complete, every build ended.
        assert!(is_closing(&batch("FAILED", false, &ended)));
    }

    #[test]
    fn a_running_ended_or_unknown_batch_is_not_closing() {
        let ended = [Some("SUCCEEDED"), Some("FAILED")];
        // Ended: complete.
        assert!(!is_closing(&batch("FAILED", true, &ended)));
        assert!(!is_closing(&batch("SUCCEEDED", true, &ended)));
        assert!(!is_closing(&batch("SUCCEEDED", false, &ended)));
        // A build still running, waiting for its dependencies, or not started.
        assert!(!is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("SUCCEEDED"), Some("IN_PROGRESS")]
        )));
        assert!(!is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("FAILED"), Some(PENDING)]
        )));
        assert!(!is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("SUCCEEDED"), None]
        )));
        // No groups yet (reading the batch buildspec).
        assert!(!is_closing(&batch("IN_PROGRESS", false, &[])));
        // A build status the gate does not know; a batch status it does not know.
        assert!(!is_closing(&batch(
            "IN_PROGRESS",
            false,
            &[Some("CLIENT_ERROR")]
        )));
        assert!(!is_closing(&batch("QUEUED", false, &ended)));
    }

    #[test]
    fn a_batch_as_retried_records_one_more_retry_at_that_moment() {
        let mut failed = batch("FAILED", true, &[Some("FAILED")]);
        failed.end_time = Some(Timestamp(100));
        failed.phases = vec![Phase {
            phase_type: "FAILED".into(),
            start_time: Some(Timestamp(100)),
            ..Phase::default()
        }];
        let again = as_retried(&failed, Timestamp(500));
        assert_eq!(again.retries_recorded(), 1);
        assert_eq!(again.retry_times(), [Some(Timestamp(500))]);
        assert_eq!(again.phases.len(), 1, "the open FAILED phase is the marker");
        assert_eq!(again.status, Some(Status::InProgress));
        assert!(!again.complete);
        assert_eq!(again.end_time, None);
        // Without an open FAILED phase, a marker is added; retried twice, two markers.
        let twice = as_retried(
            &as_retried(&batch("FAILED", true, &[]), Timestamp(1)),
            Timestamp(2),
        );
        assert_eq!(twice.retries_recorded(), 2);
        assert_eq!(
            twice.retry_times(),
            [Some(Timestamp(1)), Some(Timestamp(2))]
        );
    }

    #[test]
    fn the_waits_add_up_to_about_thirty_seconds() {
        let total: Duration = CLOSING_WAITS.iter().sum();
        assert_eq!(total, Duration::from_secs(30));
        assert!(CLOSING_WAITS.windows(2).all(|w| w[0] < w[1]), "backoff");
    }
}
