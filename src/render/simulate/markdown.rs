//! The simulation as a job summary (`$GITHUB_STEP_SUMMARY`): totals, a Mermaid chart of
//! decisions per day (GitHub renders it), the per-rule table, the refusals a hand retry
//! fixed, where budgets bit, and every attempt (bounded) in a folded table.
//!
//! Text from builds and the service is escaped and cut as in the gate's summary.

use std::fmt::Write;

use super::{fixed_by_hand, minutes, notes, plural, projects, window};
use crate::render::links::batch_url;
use crate::render::markdown::{escape, rule_name, with_rule_names};
use crate::replay::{Judged, NO_RULE, Replay, iso};

/// Attempt rows shown at most; the rest are counted.
pub const MAX_ROWS: usize = 200;
/// Days charted at most (the most recent).
const MAX_DAYS: usize = 92;
/// The chart's colours: all failed attempts behind, the policy's retries in front.
const ALL_COLOUR: &str = "#8c959f";
const ALL_COLOUR_NAME: &str = "grey";
const RETRY_COLOUR: &str = "#1a7f37";
const RETRY_COLOUR_NAME: &str = "green";

pub fn render(r: &Replay) -> String {
    // A comparison leads: the review of a policy change.
    let mut out = r
        .comparison
        .as_ref()
        .map(super::compare::markdown)
        .unwrap_or_default();
    let t = r.totals();
    let cost = r.cost();
    let _ = writeln!(
        out,
        "### 🧪 codebuild-retry-gate: simulated on {}\n",
        escape(&projects(r), 300)
    );
    let _ = writeln!(
        out,
        "**{} failed attempt{} in {} batch{}: the policy would retry {} and refuse {}{}.** \
         Of its retries {} rescued the batch and {} failed again; {} of its refusals were \
         fixed by a retry by hand.\n",
        t.failed_attempts,
        plural(t.failed_attempts),
        t.batches,
        if t.batches == 1 { "" } else { "es" },
        t.retry,
        t.refuse,
        if t.could_not_judge > 0 {
            format!(", and could not judge {}", t.could_not_judge)
        } else {
            String::new()
        },
        t.rescued,
        t.wasted,
        t.refused_but_fixed_by_hand
    );
    let _ = writeln!(out, "- **Policy**: {}", escape(&r.policy, 300));
    let _ = writeln!(
        out,
        "- **Window**: batches that started {}; {} batches read in all",
        window(&r.window),
        r.read
    );
    let _ = writeln!(
        out,
        "- **Build time of the retries that really happened** ({}): {}",
        t.real_retries,
        minutes(&cost.real_retries)
    );
    let _ = writeln!(
        out,
        "- **Build time of the policy's retries** ({}): {}, of which {:.1} estimated\n",
        t.retry,
        minutes(&cost.policy_retries),
        cost.policy_estimated.minutes()
    );

    let _ = writeln!(
        out,
        "| Decision | Total | Then succeeded | Then failed | Still running | Not retried |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| retry | {} | {} rescued | {} wasted | {} | {} not tried |",
        t.retry, t.rescued, t.wasted, t.retry_still_running, t.retry_not_tried
    );
    let _ = writeln!(
        out,
        "| refuse | {} | {} fixed by hand | {} failed again | {} | {} left failed |",
        t.refuse,
        t.refused_but_fixed_by_hand,
        t.refused_then_failed,
        t.refused_still_running,
        t.refused_not_retried
    );
    if t.wait > 0 {
        let _ = writeln!(out, "| wait | {} | | | | |", t.wait);
    }
    if t.could_not_judge > 0 {
        let _ = writeln!(
            out,
            "| could not judge | {} | {} fixed by hand | | | |",
            t.could_not_judge, t.could_not_judge_fixed_by_hand
        );
    }

    chart(&mut out, r);

    let rules = r.rules();
    if !rules.is_empty() {
        let _ = writeln!(out, "\n**Per rule**\n");
        let _ = writeln!(
            out,
            "| Rule | Allowed | Refused | Rescued | Wasted | Fixed by hand |\n|---|---|---|---|---|---|"
        );
        for (name, row) in &rules {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                if name == NO_RULE {
                    NO_RULE.to_string()
                } else {
                    rule_name(name, 80)
                },
                row.allowed,
                row.refused,
                row.rescued,
                row.wasted,
                row.fixed_by_hand
            );
        }
    }

    let missed = r.missed();
    if let Some(section) = fixed_by_hand(r) {
        let _ = writeln!(out, "\n**{}**\n", section.heading);
        if let Some(rows_say) = &section.rows_say {
            let _ = writeln!(out, "{rows_say}\n");
            let _ = writeln!(
                out,
                "| Times | Group | Failed phase | Status code | Example message |\n|---|---|---|---|---|"
            );
        }
        for m in missed.iter().take(MAX_ROWS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                m.count,
                escape(&m.group, 80),
                m.phase
                    .as_deref()
                    .map_or("-".to_string(), |p| escape(p, 40)),
                m.status_code
                    .as_deref()
                    .map_or("-".to_string(), |c| escape(c, 80)),
                m.example_message
                    .as_deref()
                    .map_or("-".to_string(), |c| escape(c.trim(), 160)),
            );
        }
        if missed.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n_{} more rows not shown; `--format json` lists them all._",
                missed.len() - MAX_ROWS
            );
        }
        for line in &section.left_out {
            let _ = writeln!(out, "\nAnd {}.", escape(line, 300));
        }
    }

    if !r.suggestions.is_empty() {
        let _ = writeln!(
            out,
            "\n**What repeats in them, and the rule that would have caught it**\n"
        );
        for sug in r.suggestions.iter().take(MAX_ROWS) {
            let rule: String = sug
                .rule
                .lines()
                .map(|l| format!("  {}\n", crate::text::clean(l, 300).replace('`', "'")))
                .collect();
            let _ = writeln!(
                out,
                "- {}\n\n  ```yaml\n{rule}  ```",
                escape(&super::text::suggestion_sentence(sug), 400)
            );
        }
    }

    let stops = r.budget_stops();
    if !stops.is_empty() {
        let _ = writeln!(
            out,
            "\n**Where a budget stopped a retry the rules allowed**\n"
        );
        let _ = writeln!(out, "| Decision code | Attempts |\n|---|---|");
        for (code, n) in &stops {
            let _ = writeln!(out, "| `{code}` | {n} |");
        }
    }
    for note in notes(r) {
        let _ = writeln!(out, "\n> [!NOTE]\n> {}", escape(&note, 400));
    }

    if !r.attempts.is_empty() {
        let _ = writeln!(
            out,
            "\n<details><summary>Every failed attempt ({}), newest first</summary>\n",
            r.attempts.len()
        );
        let _ = writeln!(
            out,
            "| Ended | Batch | Attempt | Decision | Code | Rule | Failing group | Reason | Then |\n|---|---|---|---|---|---|---|---|---|"
        );
        for a in newest_first(r).into_iter().take(MAX_ROWS) {
            let arn = a.decision.batch_arn.as_deref();
            let batch = match arn.and_then(|arn| batch_url(arn, &a.batch_id)) {
                Some(url) => format!("[{}]({url})", escape(&a.batch_id, 200)),
                None => escape(&a.batch_id, 200),
            };
            let _ = writeln!(
                out,
                "| {} | {batch} | {} | {} | `{}` | {} | {} | {} | {} |",
                a.ended_at
                    .and_then(iso)
                    .map_or("-".to_string(), |t| crate::text::first_chars(&t, 16)
                        .replace('T', " ")),
                a.attempt,
                a.decision.decision.as_str(),
                a.decision.code.as_str(),
                a.rule().map_or("-".to_string(), |n| rule_name(n, 80)),
                a.failure()
                    .map_or("-".to_string(), |g| escape(&g.group, 80)),
                with_rule_names(&a.decision, escape(&a.decision.reason, 200)),
                a.then.as_str()
            );
        }
        if r.attempts.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "\n_{} older attempts not shown; `--format json` lists them all._",
                r.attempts.len() - MAX_ROWS
            );
        }
        let _ = writeln!(out, "\n</details>");
    }
    crate::text::defuse(&out)
}

/// The attempts, the one that ended last first (an attempt without an end time last).
fn newest_first(r: &Replay) -> Vec<&Judged> {
    let mut list: Vec<&Judged> = r.attempts.iter().collect();
    list.sort_by(|a, b| {
        let key = |j: &Judged| (j.ended_at.is_some(), j.ended_at, j.attempt);
        key(b)
            .cmp(&key(a))
            .then_with(|| a.batch_id.cmp(&b.batch_id))
    });
    list
}

/// A Mermaid bar chart of failed attempts per day, the policy's retries drawn in front of
/// all failed attempts (so the lower part of each bar is what it would retry).
fn chart(out: &mut String, r: &Replay) {
    let days = r.per_day();
    if days.is_empty() {
        return;
    }
    let cut = days.len() > MAX_DAYS;
    let days = &days[days.len().saturating_sub(MAX_DAYS)..];
    let labels: Vec<String> = days
        .iter()
        .map(|(d, _)| format!("\"{}\"", d.get(5..).unwrap_or(d)))
        .collect();
    let totals: Vec<String> = days
        .iter()
        .map(|(_, d)| (d.retry + d.refuse + d.could_not_judge + d.other).to_string())
        .collect();
    let retries: Vec<String> = days.iter().map(|(_, d)| d.retry.to_string()).collect();
    let max = days
        .iter()
        .map(|(_, d)| d.retry + d.refuse + d.could_not_judge + d.other)
        .max()
        .unwrap_or(0)
        .max(1);
    let _ = writeln!(
        out,
        "\nFailed attempts per day (UTC){}. Legend: {ALL_COLOUR_NAME} bars = all failed \
         attempts; {RETRY_COLOUR_NAME} bars, in front = the ones the policy would retry.\n",
        if cut {
            format!(", the last {MAX_DAYS} days")
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "```mermaid\n%%{{init: {{\"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{ALL_COLOUR}, {RETRY_COLOUR}\"}}}}}}}}%%\nxychart-beta"
    );
    let _ = writeln!(
        out,
        "    title \"Failed attempts per day: all ({ALL_COLOUR_NAME}), would retry ({RETRY_COLOUR_NAME})\""
    );
    let _ = writeln!(out, "    x-axis [{}]", labels.join(", "));
    let _ = writeln!(out, "    y-axis \"failed attempts\" 0 --> {max}");
    let _ = writeln!(out, "    bar [{}]", totals.join(", "));
    let _ = writeln!(out, "    bar [{}]", retries.join(", "));
    let _ = writeln!(out, "```");
}
