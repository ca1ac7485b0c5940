//! The decision's reason: one line in plain words, naming first what no budget could fix.

use crate::decision::{
    BATCH_ITSELF, BudgetReport, DecisionCode, GroupRole, GroupVerdict, VerdictCode, blamed,
};
use crate::facts::{Batch, Status};

/// One line in plain words.
pub(super) fn reason(
    code: DecisionCode,
    batch: &Batch,
    groups: &[GroupVerdict],
    budget: &BudgetReport,
    attempt: Option<u32>,
    attempt_limit: u32,
) -> String {
    let roots: Vec<&GroupVerdict> = groups.iter().filter(|g| g.code.is_root_failure()).collect();
    let more = |n: usize| {
        if n > 1 {
            format!(" (and {} more)", n - 1)
        } else {
            String::new()
        }
    };
    match code {
        DecisionCode::AllFailuresAllowed => {
            let first = roots.first().map_or_else(String::new, |g| format!(": {}", failure_summary(g)));
            format!(
                "Retry {}/{attempt_limit}{first}{}",
                attempt.unwrap_or(0),
                more(roots.len())
            )
        }
        DecisionCode::FailureNotAllowed | DecisionCode::RuleBudgetSpent | DecisionCode::CouldNotJudge => {
            let refused = roots.iter().filter(|g| g.verdict == GroupRole::Refuse).count();
            match blamed(groups) {
                Some(g) => format!("Not retried: {}{}", failure_summary(g), more(refused)),
                None => "Not retried: a failure is not allowed by the policy".to_string(),
            }
        }
        DecisionCode::BatchStopped => match groups.iter().rfind(|g| g.group == BATCH_ITSELF) {
            Some(g) if g.code == VerdictCode::StoppedNotNamed => format!("Not retried: {}", g.detail),
            Some(g) => format!("Not retried: the batch was stopped, {}", g.detail),
            None => "Not retried: the batch was stopped".to_string(),
        },
        // A stopped batch can read complete while a build is still being stopped (the AWS
        // CLI's own `stop-build-batch` example): it did not fail, it is being stopped.
        DecisionCode::BatchNotComplete if batch.status == Some(Status::Stopped) => {
            "Batch was stopped, but a build is still being stopped; waiting for it to end"
                .to_string()
        }
        DecisionCode::BatchNotComplete => {
            "Batch failed but is not complete (a build is still running); waiting for it to end"
                .to_string()
        }
        DecisionCode::RetryRejected => "Not retried: CodeBuild rejected the retry".to_string(),
        DecisionCode::BatchBudgetSpent => format!(
            "Not retried: batch already retried {} time{} (per-batch budget {})",
            budget.per_batch.used,
            plural(budget.per_batch.used),
            budget.per_batch.limit
        ),
        DecisionCode::CommitBudgetSpent => format!(
            "Not retried: commit {} already retried {} time{} across {} batch{} of {} (per-commit budget {})",
            short_sha(batch.commit()),
            budget.per_commit.used,
            plural(budget.per_commit.used),
            budget.commit_batches,
            if budget.commit_batches == 1 { "" } else { "es" },
            batch.project,
            budget.per_commit.limit
        ),
        DecisionCode::ProjectBudgetSpent => {
            let day = budget.per_project_per_day.unwrap_or(budget.per_batch);
            format!(
                "Not retried: project {} already retried {} time{} in the 24 hours before this decision (per-project-per-day budget {})",
                batch.project,
                day.used,
                plural(day.used),
                day.limit
            )
        }
        DecisionCode::OutageSuspected => match budget.outage {
            Some(o) => format!(
                "Not retried: outage suspected: {} other batch{} of {} failed in the {} minute{} before this decision (brake at {})",
                o.failed_batches,
                if o.failed_batches == 1 { "" } else { "es" },
                batch.project,
                o.within_minutes,
                plural(o.within_minutes),
                o.threshold
            ),
            None => "Not retried: outage suspected".to_string(),
        },
        DecisionCode::TooManyFailed => match budget.failed_share {
            Some(f) => format!(
                "Not retried: {} of {} build groups failed, more than the policy's max-failed-share {}: more likely broken than flaky",
                f.failed_groups,
                f.groups,
                f.max_failed_share.get()
            ),
            None => "Not retried: too many build groups failed".to_string(),
        },
        DecisionCode::HistoryIncomplete => {
            let mut uncounted = Vec::new();
            if budget.commit_known {
                uncounted.push("the per-commit budget");
            }
            if budget.per_project_per_day.is_some() {
                uncounted.push("the per-project-per-day budget");
            }
            if budget.outage.is_some() {
                uncounted.push("the outage brake");
            }
            format!(
                "Not retried: {}'s batch history could not be read back {} day{} (the listing was cut at its page cap), so {} cannot be counted; set a shorter budget.lookback-days",
                batch.project,
                budget.lookback_days,
                plural(budget.lookback_days),
                uncounted.join(" and ")
            )
        }
        DecisionCode::ProjectNotCovered => {
            format!("Not retried: no rule of the policy covers project {}", batch.project)
        }
        DecisionCode::NoFailureFound => {
            "Not retried: the batch failed, but no failed group or batch phase explains it".to_string()
        }
        DecisionCode::UnknownBatchStatus => format!(
            "Not retried: batch status {} is not one the gate knows",
            batch.status.as_ref().map_or("(missing)", |s| s.as_str())
        ),
        DecisionCode::BatchSucceeded => match budget.per_batch.used {
            0 => "Batch succeeded".to_string(),
            n => format!("Batch succeeded after {n} retr{}", if n == 1 { "y" } else { "ies" }),
        },
        DecisionCode::BatchInProgress => "Batch is still in progress".to_string(),
        DecisionCode::RetriedElsewhere => "Batch was retried by someone else; waiting for it".to_string(),
        DecisionCode::Superseded => "Superseded by a newer batch of the same commit".to_string(),
    }
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect::<String>()
}

/// `group failed in PHASE (CODE): verdict detail`.
pub fn failure_summary(g: &GroupVerdict) -> String {
    let who = if g.group == BATCH_ITSELF {
        "the batch"
    } else {
        g.group.as_str()
    };
    let mut s = format!(
        "{who} {}",
        g.status
            .as_deref()
            .map_or_else(|| "failed".to_string(), status_verb)
    );
    if let Some(phase) = &g.failed_phase {
        s.push_str(" in ");
        s.push_str(phase);
    }
    if let Some(c) = g.contexts.first().filter(|c| !c.status_code.is_empty()) {
        s.push_str(&format!(" ({})", c.status_code));
    }
    s.push_str(", ");
    s.push_str(&g.detail);
    s
}

fn status_verb(status: &str) -> String {
    match status {
        "FAILED" => "failed".to_string(),
        "FAULT" => "faulted".to_string(),
        "TIMED_OUT" => "timed out".to_string(),
        "STOPPED" => "was stopped".to_string(),
        other => format!("ended as {other}"),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn short_sha(sha: Option<&str>) -> &str {
    sha.map_or("(unknown)", |s| s.get(..7).unwrap_or(s))
}
