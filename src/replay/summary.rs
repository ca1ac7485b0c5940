//! What a replay adds up to: decisions crossed with what happened next, build time, the
//! rules the decisions rest on, the refusals a hand retry fixed, where budgets bit, and
//! decisions per day. Every rendering draws on these.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use serde::Serialize;

use super::{Basis, BuildTime, Replay, Then};
use crate::decision::Outcome;
use crate::facts::Timestamp;

/// Decisions crossed with what happened next, and the build time at stake.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Batches replayed (started in the window).
    pub batches: usize,
    /// Of those, still running when read.
    pub running: usize,
    pub failed_attempts: usize,
    pub retry: usize,
    pub refuse: usize,
    /// `wait`: the attempt had a build still running (the gate waits for the batch's end).
    pub wait: usize,
    /// The gate would have refused only because a fact it needed could not be read (a test
    /// report expired after 30 days or not found, a log past its retention or not read, GitHub
    /// unreadable): not counted in `refuse`, nor in the refusals' outcomes below.
    pub could_not_judge: usize,
    /// Of those, the ones a retry by hand then fixed.
    pub could_not_judge_fixed_by_hand: usize,
    /// retry, and the retry that really followed made the batch succeed.
    pub rescued: usize,
    /// retry, and the retry that really followed failed again.
    pub wasted: usize,
    /// retry, but nobody retried: the outcome is not known.
    pub retry_not_tried: usize,
    /// retry, and the retry that followed is still running.
    pub retry_still_running: usize,
    /// refuse, but a retry by hand then made the batch succeed: flakiness the policy misses.
    pub refused_but_fixed_by_hand: usize,
    /// refuse, and not fixed by hand: nobody retried, or the retry failed again
    /// (`refused_not_retried` + `refused_then_failed`).
    pub refusals_held: usize,
    /// refuse, and nobody retried.
    pub refused_not_retried: usize,
    /// refuse, and a retry by hand failed again.
    pub refused_then_failed: usize,
    /// Of `refused_but_fixed_by_hand`: refused for a failure no rule allowed (no rule, a
    /// refusing rule, an unknown status…), the ones [`Replay::missed`] lists by group.
    pub fixed_by_hand_no_rule_allowed: usize,
    /// Of `refused_but_fixed_by_hand`: every failure was allowed, and a budget or a brake
    /// refused ([`Replay::budget_stops`]).
    pub fixed_by_hand_budget_or_brake: usize,
    /// refuse, and a retry by hand is still running.
    pub refused_still_running: usize,
    /// Retries that really happened after the failed attempts (by anyone).
    pub real_retries: usize,
}

/// Build time totals (see [`Basis`] for how a retry's cost is estimated).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// The builds the real retries ran.
    pub real_retries: TimeTotal,
    /// The builds the policy's retries ran (observed) or would have run (estimated).
    pub policy_retries: TimeTotal,
    /// The estimated part of `policy_retries`.
    pub policy_estimated: TimeTotal,
}

/// Build time added up over attempts. Its minutes are the sum of each attempt's minutes as
/// shown (rounded to a tenth), so a total always equals the sum of its rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeTotal {
    /// The builds, their exact time, and those without times.
    pub time: BuildTime,
    /// Tenths of a minute: the sum of each row's rounded tenths.
    pub tenths: u64,
}

impl TimeTotal {
    pub fn add(&mut self, row: BuildTime) {
        self.time.add(row);
        self.tenths = self.tenths.saturating_add(row.tenths());
    }

    pub fn minutes(&self) -> f64 {
        self.tenths as f64 / 10.0
    }
}

/// One row of the per-rule table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuleRow {
    pub allowed: usize,
    pub refused: usize,
    /// Attempts that could not be judged (a fact the rule needed could not be read).
    pub could_not_judge: usize,
    pub rescued: usize,
    pub wasted: usize,
    pub fixed_by_hand: usize,
}

/// Failures that the policy refused and a hand retry then fixed, grouped by what failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Missed {
    pub group: String,
    pub phase: Option<String>,
    pub status_code: Option<String>,
    pub count: usize,
    pub example_message: Option<String>,
    pub example_batch: String,
}

/// Decisions of one day (UTC, by the end of the attempt).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    pub retry: usize,
    pub refuse: usize,
    pub could_not_judge: usize,
    pub other: usize,
}

/// The label of a rule row for decisions no rule matched.
pub const NO_RULE: &str = "(no rule)";

impl Replay {
    pub fn totals(&self) -> Totals {
        let mut t = Totals {
            batches: self.batches,
            running: self.running,
            failed_attempts: self.attempts.len(),
            ..Totals::default()
        };
        for a in &self.attempts {
            if a.then.retried() {
                t.real_retries += 1;
            }
            match (a.decision.decision, a.then) {
                (Outcome::Retry, then) => {
                    t.retry += 1;
                    match then {
                        Then::RetriedThenSucceeded => t.rescued += 1,
                        Then::RetriedThenFailed => t.wasted += 1,
                        Then::RetriedStillRunning => t.retry_still_running += 1,
                        Then::NotRetried => t.retry_not_tried += 1,
                    }
                }
                (Outcome::Refuse, then) if a.could_not_judge() => {
                    t.could_not_judge += 1;
                    if then == Then::RetriedThenSucceeded {
                        t.could_not_judge_fixed_by_hand += 1;
                    }
                }
                (Outcome::Refuse, then) => {
                    t.refuse += 1;
                    match then {
                        Then::RetriedThenSucceeded => {
                            t.refused_but_fixed_by_hand += 1;
                            if a.decision.groups.iter().any(|g| g.code.is_hard_refusal()) {
                                t.fixed_by_hand_no_rule_allowed += 1;
                            } else {
                                t.fixed_by_hand_budget_or_brake += 1;
                            }
                        }
                        Then::RetriedStillRunning => t.refused_still_running += 1,
                        Then::RetriedThenFailed => {
                            t.refusals_held += 1;
                            t.refused_then_failed += 1;
                        }
                        Then::NotRetried => {
                            t.refusals_held += 1;
                            t.refused_not_retried += 1;
                        }
                    }
                }
                _ => t.wait += 1,
            }
        }
        t
    }

    pub fn cost(&self) -> Cost {
        let mut c = Cost::default();
        for a in &self.attempts {
            if let Some(real) = a.real_retry {
                c.real_retries.add(real);
            }
            if let Some((cost, basis)) = a.policy_retry {
                c.policy_retries.add(cost);
                if basis == Basis::Estimated {
                    c.policy_estimated.add(cost);
                }
            }
        }
        c
    }

    /// Per rule the decisions rest on ([`Judged::rule`]; [`NO_RULE`] for none).
    pub fn rules(&self) -> BTreeMap<String, RuleRow> {
        let mut rows: BTreeMap<String, RuleRow> = BTreeMap::new();
        for a in &self.attempts {
            let row = rows
                .entry(a.rule().unwrap_or(NO_RULE).to_string())
                .or_default();
            match a.decision.decision {
                Outcome::Retry => {
                    row.allowed += 1;
                    match a.then {
                        Then::RetriedThenSucceeded => row.rescued += 1,
                        Then::RetriedThenFailed => row.wasted += 1,
                        _ => {}
                    }
                }
                Outcome::Refuse if a.could_not_judge() => row.could_not_judge += 1,
                Outcome::Refuse => {
                    row.refused += 1;
                    if a.then == Then::RetriedThenSucceeded {
                        row.fixed_by_hand += 1;
                    }
                }
                _ => {}
            }
        }
        rows
    }

    /// Refused failures that a hand retry fixed, by group, failed phase and status code;
    /// most frequent first. Only failures no budget could have let through (no rule, a
    /// refusing rule, an unknown status…): those are the rules the policy is missing.
    pub fn missed(&self) -> Vec<Missed> {
        let mut by_key: BTreeMap<(String, Option<String>, Option<String>), Missed> =
            BTreeMap::new();
        for a in &self.attempts {
            if a.decision.decision != Outcome::Refuse
                || a.then != Then::RetriedThenSucceeded
                || a.could_not_judge()
            {
                continue;
            }
            for g in a
                .decision
                .groups
                .iter()
                .filter(|g| g.code.is_hard_refusal())
            {
                let context = g.contexts.first();
                let code = context
                    .map(|c| c.status_code.clone())
                    .filter(|c| !c.is_empty());
                let key = (g.group.clone(), g.failed_phase.clone(), code.clone());
                let entry = by_key.entry(key).or_insert_with(|| Missed {
                    group: g.group.clone(),
                    phase: g.failed_phase.clone(),
                    status_code: code,
                    count: 0,
                    example_message: None,
                    example_batch: a.batch_id.clone(),
                });
                entry.count += 1;
                if entry.example_message.is_none() {
                    entry.example_message =
                        context.map(|c| c.message.clone()).filter(|m| !m.is_empty());
                }
            }
        }
        let mut list: Vec<Missed> = by_key.into_values().collect();
        list.sort_by_key(|m| Reverse(m.count));
        list
    }

    /// Refusals of attempts whose every root failure a rule allowed: a budget (or another
    /// brake of the policy) stopped the retry. By decision code.
    pub fn budget_stops(&self) -> BTreeMap<&'static str, usize> {
        let mut stops = BTreeMap::new();
        for a in &self.attempts {
            let d = &a.decision;
            let roots = d.groups.iter().filter(|g| g.code.is_root_failure());
            let hard = d.groups.iter().any(|g| g.code.is_hard_refusal());
            if d.decision == Outcome::Refuse
                && !hard
                && (roots.count() > 0 || d.code.as_str().ends_with("budget-spent"))
            {
                *stops.entry(d.code.as_str()).or_default() += 1;
            }
        }
        stops
    }

    /// Decisions per day (UTC, by the end of the attempt), from the window's first day (else
    /// the first day with a failed attempt) to the last day with one or the window's last,
    /// whichever is later; days without any included.
    pub fn per_day(&self) -> Vec<(String, Day)> {
        const DAY: i64 = 86_400_000;
        let days: Vec<i64> = self
            .attempts
            .iter()
            .filter_map(|a| a.ended_at)
            .filter(|t| t.0 != i64::MAX)
            .map(|t| t.0.div_euclid(DAY))
            .collect();
        let (Some(&first), Some(&last)) = (days.iter().min(), days.iter().max()) else {
            return Vec::new();
        };
        let first = self
            .window
            .since
            .map_or(first, |s| s.0.div_euclid(DAY).min(first));
        let last = self
            .window
            .until
            .map_or(last, |u| u.0.div_euclid(DAY).max(last));
        // At most a year of days (a window is at most 365 days).
        let first = first.max(last - 400);
        let mut out: Vec<(String, Day)> = (first..=last)
            .map(|d| (day_label(d * DAY), Day::default()))
            .collect();
        for a in &self.attempts {
            let Some(t) = a.ended_at.filter(|t| t.0 != i64::MAX) else {
                continue;
            };
            let Ok(i) = usize::try_from(t.0.div_euclid(DAY) - first) else {
                continue;
            };
            if let Some((_, day)) = out.get_mut(i) {
                match a.decision.decision {
                    Outcome::Retry => day.retry += 1,
                    Outcome::Refuse if a.could_not_judge() => day.could_not_judge += 1,
                    Outcome::Refuse => day.refuse += 1,
                    _ => day.other += 1,
                }
            }
        }
        out
    }
}

/// `YYYY-MM-DD` (UTC) of a moment.
pub fn day_label(millis: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// ISO-8601 (UTC, milliseconds) of a moment, as the AWS CLI prints times.
pub fn iso(t: Timestamp) -> Option<String> {
    let nanos = i128::from(t.0) * 1_000_000;
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    at.format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .ok()
}
