//! The commit status: state, and a description of at most 140 characters that still says
//! the essential why.

use crate::decision::{Decision, DecisionCode, GroupRole, GroupVerdict, Outcome};
use crate::github::{CommitStatus, State};
use crate::text::cut_bytes;

/// GitHub answers 422 to longer descriptions. Counted in bytes, so it holds whether GitHub
/// counts bytes or characters.
pub const MAX_DESCRIPTION: usize = 140;

/// The status for a decision. `target_url` is the workflow run when known, else the batch.
pub fn render(d: &Decision, target_url: Option<String>) -> CommitStatus {
    let state = match d.decision {
        Outcome::Retry | Outcome::Wait => State::Pending,
        Outcome::Refuse => State::Failure,
        Outcome::Pass => State::Success,
    };
    CommitStatus {
        state,
        context: d.context.clone(),
        description: description(d),
        target_url,
    }
}

/// The reason if it fits; else a compact form of it; else the compact form cut short.
pub fn description(d: &Decision) -> String {
    let full = crate::text::clean(&d.reason, 1000);
    if full.len() <= MAX_DESCRIPTION {
        return full;
    }
    let first = match d.decision {
        Outcome::Retry => d.groups.iter().find(|g| g.verdict == GroupRole::Retry),
        _ => d.blamed(),
    };
    let compact = match (d.decision, first) {
        (Outcome::Retry, Some(g)) => format!(
            "Retry {}/{}: {}",
            d.attempt.unwrap_or(0),
            d.attempt_limit,
            compact_failure(g)
        ),
        (Outcome::Refuse, Some(g))
            if matches!(
                d.code,
                DecisionCode::FailureNotAllowed | DecisionCode::RuleBudgetSpent
            ) =>
        {
            format!("Not retried: {}", compact_failure(g))
        }
        _ => full,
    };
    cut_bytes(&compact, MAX_DESCRIPTION)
}

/// `group PHASE CODE; rule R` / `group PHASE CODE; no rule allows it`, each part shortened.
fn compact_failure(g: &GroupVerdict) -> String {
    let mut s = cut_bytes(&crate::text::clean(&g.group, 200), 40);
    if let Some(phase) = &g.failed_phase {
        s.push(' ');
        s.push_str(&cut_bytes(&crate::text::clean(phase, 100), 24));
    }
    if let Some(code) = g
        .contexts
        .first()
        .map(|c| &c.status_code)
        .filter(|c| !c.is_empty())
    {
        s.push(' ');
        s.push_str(&cut_bytes(&crate::text::clean(code, 200), 40));
    }
    match &g.rule {
        Some(rule) => {
            s.push_str(if g.verdict == GroupRole::Retry {
                "; rule "
            } else {
                "; refused by "
            });
            s.push_str(&cut_bytes(&crate::text::clean(&rule.name, 200), 30));
        }
        None => s.push_str("; no rule allows it"),
    }
    s
}

/// The `error` status for a batch the gate could not judge: `description` cleaned and cut
/// to [`MAX_DESCRIPTION`].
pub fn error(context: String, description: &str, target_url: Option<String>) -> CommitStatus {
    CommitStatus {
        state: State::Error,
        context,
        description: cut_bytes(&crate::text::clean(description, 1000), MAX_DESCRIPTION),
        target_url,
    }
}
