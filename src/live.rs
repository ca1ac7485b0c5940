//! Judging a batch live: the facts CodeBuild holds about it, and acting on the decision
//! (the retry, with its idempotency token and CodeBuild's answer). Shared by `gate` and
//! `reconcile`, so that both judge and act exactly alike; their inputs, logs and reports
//! stay in the commands.

use crate::codebuild::{AwsError, CodeBuild, ListPage, RetryResult, idempotency_token};
use crate::decision::{Decision, Outcome};
use crate::error::RunError;
use crate::facts::{Batch, Facts, Timestamp};
use crate::history::{self, Known, WalkEnd};
use crate::policy::Policy;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

pub fn aws(e: AwsError) -> RunError {
    RunError::Runtime(e.to_string())
}

/// How far back the history must reach for `policy`'s budgets, from the batch's start: the
/// per-commit look-back, and at least the 24 hours the daily project budget and the outage
/// brake look at (whatever `lookback-days` says).
pub fn history_since(policy: &Policy, batch: &Batch) -> Option<Timestamp> {
    let days = i64::from(policy.budget.lookback_days.max(1));
    batch
        .start_time
        .map(|t| Timestamp(t.0.saturating_sub(days * DAY_MS)))
}

/// The facts about `batch`: for a failed batch that is complete, the builds of its failed
/// groups and the project's history (from `first`, the listing's first page, on; batches in
/// `known` are not read again), read together. A batch that is not complete is only waited
/// for (or refused for its project), so nothing more is read for it.
pub async fn facts(
    codebuild: &CodeBuild,
    policy: &Policy,
    batch: Batch,
    first: Result<ListPage, AwsError>,
    mut known: Known,
) -> Result<Facts, RunError> {
    let mut facts = Facts {
        batch,
        ..Facts::default()
    };
    if !facts.batch.status.as_ref().is_some_and(|s| s.is_failure()) || !facts.batch.complete {
        return Ok(facts);
    }
    let first = first.map_err(aws)?;
    let build_ids: Vec<String> = facts
        .batch
        .groups
        .iter()
        .filter(|g| !g.ignore_failure && g.status().is_some_and(|s| s.is_failure()))
        .filter_map(|g| g.current.as_ref()?.build_id().map(str::to_string))
        .collect();
    let since = history_since(policy, &facts.batch);
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
    Ok(facts)
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
    debug_assert_eq!(decision.decision, Outcome::Retry);
    let attempt = decision.attempt.unwrap_or(1);
    let token = idempotency_token(&batch.id, attempt);
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
            match now.first() {
                Some(b) if !b.status.as_ref().is_some_and(|s| s.is_failure()) => {
                    decision.retried_elsewhere();
                }
                _ => decision.retry_rejected(&why),
            }
            Ok(Retried::No)
        }
    }
}
