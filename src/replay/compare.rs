//! `simulate --compare OLD`: two policies replayed over the same history, attempt by
//! attempt. The review of a policy change, with evidence: which failed attempts the new
//! policy decides differently, and what really happened to them next.
//!
//! Pure: it compares two [`Replay`]s of the same batches (same window, same builds).

use std::collections::HashMap;

use serde::Serialize;

use super::{Judged, Replay, Then};
use crate::decision::Outcome;
use crate::facts::Timestamp;

/// One policy's judgment of an attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Side {
    pub decision: &'static str,
    pub code: &'static str,
    pub rule: Option<String>,
}

impl Side {
    fn of(a: &Judged) -> Side {
        Side {
            decision: a.decision.decision.as_str(),
            code: a.decision.code.as_str(),
            rule: a.rule().map(str::to_string),
        }
    }
}

/// An attempt whose decision or code differs between the two policies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub batch_id: String,
    pub project: String,
    /// 1-based.
    pub attempt: u32,
    pub commit: Option<String>,
    #[serde(skip)]
    pub ended_at: Option<Timestamp>,
    /// The old policy's (`--compare OLD`).
    pub before: Side,
    /// The new policy's (`--policy`).
    pub after: Side,
    /// What really happened next.
    pub then: &'static str,
    #[serde(skip)]
    pub then_kind: Then,
    /// How it changed, in one word: `newly-retried`, `newly-refused` or `other`.
    pub change: &'static str,
}

/// The differences, added up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompareTotals {
    /// Failed attempts judged by both policies.
    pub attempts: usize,
    /// Of those, decided differently (decision or code).
    pub changed: usize,
    /// Refused (or otherwise not retried) before, retried now.
    pub newly_retried: usize,
    /// Of those, a retry (by a person, a bot or the gate) then made the batch succeed: the
    /// new policy would have done that by itself.
    pub newly_retried_fixed_by_hand: usize,
    /// Of those, nobody retried, or the retry failed again: the old refusal held.
    pub newly_retried_held: usize,
    /// Retried before, refused now.
    pub newly_refused: usize,
    /// Of those, the retry that really followed made the batch succeed: a rescue the new
    /// policy would leave to a person.
    pub newly_refused_fixed_by_hand: usize,
    /// Of those, nobody retried, or the retry failed again: the refusal would have held.
    pub newly_refused_held: usize,
}

/// The comparison of a new policy's replay with an old one's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// Where the old policy came from.
    pub old_policy: String,
    pub totals: CompareTotals,
    /// In the order the attempts ended.
    pub changed: Vec<Change>,
}

impl Comparison {
    /// The lead sentence: what the new policy does differently, with what happened next.
    pub fn headline(&self) -> String {
        let t = &self.totals;
        if t.changed == 0 {
            return format!(
                "the new policy decides all {} failed attempt{} as the old one did",
                t.attempts,
                if t.attempts == 1 { "" } else { "s" }
            );
        }
        let mut parts = Vec::new();
        if t.newly_retried > 0 {
            parts.push(format!(
                "would now retry {} refusal{}, {} of which a person retried successfully",
                t.newly_retried,
                if t.newly_retried == 1 { "" } else { "s" },
                t.newly_retried_fixed_by_hand
            ));
        }
        if t.newly_refused > 0 {
            parts.push(format!(
                "would now refuse {} retr{}, {} of which rescued the batch",
                t.newly_refused,
                if t.newly_refused == 1 { "y" } else { "ies" },
                t.newly_refused_fixed_by_hand
            ));
        }
        let other = t.changed - t.newly_retried - t.newly_refused;
        if other > 0 {
            parts.push(format!(
                "{other} other attempt{} decided differently",
                if other == 1 { "" } else { "s" }
            ));
        }
        format!(
            "{} of {} failed attempts change: {}",
            t.changed,
            t.attempts,
            parts.join("; ")
        )
    }
}

/// Compares `new` with `old`, replays of the same batches under two policies. Attempts are
/// matched by batch and attempt number; an attempt only one side judged (which cannot
/// happen for replays of the same batches) is left out.
pub fn compare(old: &Replay, new: &Replay) -> Comparison {
    let before: HashMap<(&str, u32), &Judged> = old
        .attempts
        .iter()
        .map(|a| ((a.batch_id.as_str(), a.attempt), a))
        .collect();
    let mut totals = CompareTotals::default();
    let mut changed = Vec::new();
    for after in &new.attempts {
        let Some(before) = before.get(&(after.batch_id.as_str(), after.attempt)) else {
            continue;
        };
        totals.attempts += 1;
        let (b, a) = (&before.decision, &after.decision);
        if b.decision == a.decision && b.code == a.code {
            continue;
        }
        totals.changed += 1;
        let then = after.then;
        let fixed = then == Then::RetriedThenSucceeded;
        let held = matches!(then, Then::NotRetried | Then::RetriedThenFailed);
        let change = match (b.decision, a.decision) {
            (old, Outcome::Retry) if old != Outcome::Retry => {
                totals.newly_retried += 1;
                totals.newly_retried_fixed_by_hand += usize::from(fixed);
                totals.newly_retried_held += usize::from(held);
                "newly-retried"
            }
            (Outcome::Retry, Outcome::Refuse) => {
                totals.newly_refused += 1;
                totals.newly_refused_fixed_by_hand += usize::from(fixed);
                totals.newly_refused_held += usize::from(held);
                "newly-refused"
            }
            _ => "other",
        };
        changed.push(Change {
            batch_id: after.batch_id.clone(),
            project: after.project.clone(),
            attempt: after.attempt,
            commit: after.commit.clone(),
            ended_at: after.ended_at,
            before: Side::of(before),
            after: Side::of(after),
            then: then.as_str(),
            then_kind: then,
            change,
        });
    }
    Comparison {
        old_policy: old.policy.clone(),
        totals,
        changed,
    }
}
