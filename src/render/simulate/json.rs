//! `simulate --format json`: a versioned report object with every failed attempt.

use serde::Serialize;

use crate::replay::{Basis, BuildTime, Judged, Replay, Totals, iso};

/// Version of the simulation report's shape. Additive changes keep it; others raise it.
pub const SIMULATION_VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    policy: &'a str,
    projects: &'a [String],
    window: Window,
    /// Batches read in all: the window's and the look-back's.
    batches_read: usize,
    history_truncated: bool,
    /// What the report may understate, and why (e.g. no builds were given).
    warnings: &'a [String],
    attempts: Vec<Attempt<'a>>,
    totals: TotalsOut,
    rules: Vec<RuleOut<'a>>,
    refused_but_fixed_by_hand: Vec<crate::replay::Missed>,
    /// Rules that would have caught the refusals a hand retry fixed, where failed tests or
    /// a log line repeat.
    suggestions: &'a [crate::replay::suggest::Suggestion],
    /// What could not be read or judged, in plain words (could-not-judge attempts, logs
    /// that could not be read).
    notes: Vec<String>,
    budget_stops: std::collections::BTreeMap<&'static str, usize>,
    per_day: Vec<DayOut>,
    /// With `--compare OLD`: every attempt the two policies decide differently, and totals.
    #[serde(skip_serializing_if = "Option::is_none")]
    comparison: Option<&'a crate::replay::Comparison>,
}

#[derive(Serialize)]
struct Window {
    since: Option<String>,
    until: Option<String>,
}

#[derive(Serialize)]
struct Attempt<'a> {
    batch_id: &'a str,
    project: &'a str,
    attempt: u32,
    commit: Option<&'a str>,
    ended_at: Option<String>,
    decision: &'static str,
    code: &'static str,
    rule: Option<&'a str>,
    reason: &'a str,
    then: &'static str,
    failure: Option<Failure<'a>>,
    /// Build-minutes of the retry that really followed, if one did.
    real_retry_minutes: Option<f64>,
    /// For `retry`: build-minutes of that retry, observed or estimated.
    policy_retry_minutes: Option<f64>,
    policy_retry_estimated: Option<bool>,
}

#[derive(Serialize)]
struct Failure<'a> {
    group: &'a str,
    status: Option<&'a str>,
    phase: Option<&'a str>,
    status_code: Option<&'a str>,
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct TotalsOut {
    #[serde(flatten)]
    totals: Totals,
    build_minutes: Minutes,
}

#[derive(Serialize)]
struct Minutes {
    real_retries: f64,
    policy_retries: f64,
    policy_retries_estimated: f64,
    builds_without_times: u32,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    rule: &'a str,
    #[serde(flatten)]
    row: &'a crate::replay::RuleRow,
}

#[derive(Serialize)]
struct DayOut {
    day: String,
    #[serde(flatten)]
    counts: crate::replay::Day,
}

fn attempt(a: &Judged) -> Attempt<'_> {
    let d = &a.decision;
    Attempt {
        batch_id: &a.batch_id,
        project: &a.project,
        attempt: a.attempt,
        commit: a.commit.as_deref(),
        ended_at: a.ended_at.and_then(iso),
        decision: d.decision.as_str(),
        code: d.code.as_str(),
        rule: a.rule(),
        reason: &d.reason,
        then: a.then.as_str(),
        failure: a.failure().map(|g| {
            let c = g.contexts.first();
            Failure {
                group: &g.group,
                status: g.status.as_deref(),
                phase: g.failed_phase.as_deref(),
                status_code: c.map(|c| c.status_code.as_str()).filter(|s| !s.is_empty()),
                message: c.map(|c| c.message.as_str()).filter(|s| !s.is_empty()),
            }
        }),
        real_retry_minutes: a.real_retry.and_then(known_minutes),
        policy_retry_minutes: a.policy_retry.and_then(|(t, _)| known_minutes(t)),
        policy_retry_estimated: a.policy_retry.map(|(_, b)| b == Basis::Estimated),
    }
}

/// Minutes of builds whose times are known; `None` when none is (still running, not read).
fn known_minutes(t: BuildTime) -> Option<f64> {
    (t.builds > 0).then(|| t.minutes())
}

/// The report as pretty JSON, ending in a newline.
pub fn render(r: &Replay) -> String {
    let rules = r.rules();
    let cost = r.cost();
    let report = Report {
        version: SIMULATION_VERSION,
        policy: &r.policy,
        projects: &r.projects,
        window: Window {
            since: r.window.since.and_then(iso),
            until: r.window.until.and_then(iso),
        },
        batches_read: r.read,
        history_truncated: r.history_truncated,
        warnings: &r.warnings,
        attempts: r.attempts.iter().map(attempt).collect(),
        totals: TotalsOut {
            totals: r.totals(),
            build_minutes: Minutes {
                real_retries: cost.real_retries.minutes(),
                policy_retries: cost.policy_retries.minutes(),
                policy_retries_estimated: cost.policy_estimated.minutes(),
                builds_without_times: cost.real_retries.time.unknown
                    + cost.policy_estimated.time.unknown,
            },
        },
        rules: rules
            .iter()
            .map(|(rule, row)| RuleOut { rule, row })
            .collect(),
        refused_but_fixed_by_hand: r.missed(),
        suggestions: &r.suggestions,
        notes: super::notes(r),
        budget_stops: r.budget_stops(),
        per_day: r
            .per_day()
            .into_iter()
            .map(|(day, counts)| DayOut { day, counts })
            .collect(),
        comparison: r.comparison.as_ref(),
    };
    let mut out =
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    // As in the gate's report: a legacy `##[command]` is never in a line the runner reads.
    out.replace("##[", "#\\u0023[")
}
