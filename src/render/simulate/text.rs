//! The terminal summary of a simulation: totals, the decisions crossed with what happened
//! next, build time, a table per rule, the refusals a hand retry fixed, where budgets bit.

use std::fmt::Write;

use super::{fixed_by_hand, minutes, notes, plural, projects, window};
use crate::replay::Replay;
use crate::text::clean;

/// Rows of the "fixed by hand" list shown at most.
const MAX_MISSED: usize = 20;

pub fn render(r: &Replay) -> String {
    // A comparison leads: the review of a policy change.
    let mut out = r
        .comparison
        .as_ref()
        .map(super::compare::text)
        .unwrap_or_default();
    let t = r.totals();
    let cost = r.cost();
    let _ = writeln!(
        out,
        "SIMULATE  {}: {} failed attempt{} in {} batch{}: the policy would retry {} and refuse {}{}",
        clean(&projects(r), 300),
        t.failed_attempts,
        plural(t.failed_attempts),
        t.batches,
        if t.batches == 1 { "" } else { "es" },
        t.retry,
        t.refuse,
        could_not_judge(&t)
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "  policy   {}", clean(&r.policy, 300));
    let _ = writeln!(
        out,
        "  window   batches that started {}; {} batches read in all",
        window(&r.window),
        r.read
    );
    let _ = writeln!(out);

    let table = [
        [
            "DECISION",
            "TOTAL",
            "THEN SUCCEEDED",
            "THEN FAILED",
            "STILL RUNNING",
            "NOT RETRIED",
        ],
        [
            "retry",
            &t.retry.to_string(),
            &format!("{} rescued", t.rescued),
            &format!("{} wasted", t.wasted),
            &t.retry_still_running.to_string(),
            &format!("{} not tried", t.retry_not_tried),
        ],
        [
            "refuse",
            &t.refuse.to_string(),
            &format!("{} fixed by hand", t.refused_but_fixed_by_hand),
            &format!("{} failed again", t.refused_then_failed),
            &t.refused_still_running.to_string(),
            &format!("{} left failed", t.refused_not_retried),
        ],
    ];
    table_lines(&mut out, &table.map(|row| row.map(str::to_string)));
    if t.wait > 0 {
        let _ = writeln!(
            out,
            "  wait     {} (a build of the failed attempt was still running)",
            t.wait
        );
    }
    if t.could_not_judge > 0 {
        let _ = writeln!(
            out,
            "  could not judge  {} ({} then fixed by hand; not counted as refusals, see the note)",
            t.could_not_judge, t.could_not_judge_fixed_by_hand
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  rescued {} · wasted {} · refused but fixed by hand {} · refused and not fixed by hand {}",
        t.rescued, t.wasted, t.refused_but_fixed_by_hand, t.refusals_held
    );
    let _ = writeln!(
        out,
        "  retries that really happened: {}, {}",
        t.real_retries,
        minutes(&cost.real_retries)
    );
    let _ = writeln!(
        out,
        "  retries the policy would make: {}, {}; {:.1} of those minutes estimated",
        t.retry,
        minutes(&cost.policy_retries),
        cost.policy_estimated.minutes()
    );

    let rules = r.rules();
    if !rules.is_empty() {
        let _ = writeln!(out);
        let mut rows = vec![
            [
                "RULE",
                "ALLOWED",
                "REFUSED",
                "RESCUED",
                "WASTED",
                "FIXED BY HAND",
            ]
            .map(str::to_string),
        ];
        for (name, row) in &rules {
            rows.push([
                clean(name, 60),
                row.allowed.to_string(),
                row.refused.to_string(),
                row.rescued.to_string(),
                row.wasted.to_string(),
                row.fixed_by_hand.to_string(),
            ]);
        }
        table_lines(&mut out, &rows);
    }

    let missed = r.missed();
    if let Some(section) = fixed_by_hand(r) {
        let _ = writeln!(out);
        let _ = writeln!(out, "  {}:", section.heading);
        if let Some(rows_say) = &section.rows_say {
            let _ = writeln!(out, "  {rows_say}");
        }
        for m in missed.iter().take(MAX_MISSED) {
            let _ = writeln!(
                out,
                "    {}×  {}  {}  {}",
                m.count,
                clean(&m.group, 60),
                m.phase.as_deref().map_or("-".to_string(), |p| clean(p, 30)),
                m.status_code
                    .as_deref()
                    .map_or("-".to_string(), |c| clean(c, 60)),
            );
            if let Some(message) = &m.example_message {
                let _ = writeln!(out, "        e.g. {}", clean(message.trim(), 160));
            }
            let _ = writeln!(out, "        in   {}", clean(&m.example_batch, 200));
        }
        if missed.len() > MAX_MISSED {
            let _ = writeln!(
                out,
                "    … {} more (--format json lists them all)",
                missed.len() - MAX_MISSED
            );
        }
        for line in &section.left_out {
            let _ = writeln!(out, "  and {line}");
        }
    }
    if !r.suggestions.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "  What repeats in them, and the rule that would have caught it:"
        );
        for sug in r.suggestions.iter().take(MAX_MISSED) {
            let _ = writeln!(out, "    {}", clean(&suggestion_sentence(sug), 400));
            for line in sug.rule.lines() {
                let _ = writeln!(out, "        {}", clean(line, 300));
            }
        }
    }

    let stops = r.budget_stops();
    if !stops.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "  Where a budget stopped a retry the rules allowed:");
        for (code, n) in &stops {
            let _ = writeln!(out, "    {n:>4}  {code}");
        }
    }
    for note in notes(r) {
        let _ = writeln!(out);
        let _ = writeln!(out, "  note     {note}");
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  Every attempt with its decision and reason: --format json (or markdown)."
    );
    crate::text::defuse(&out)
}

/// `, and could not judge N` when some attempts could not be judged.
fn could_not_judge(t: &crate::replay::Totals) -> String {
    if t.could_not_judge == 0 {
        String::new()
    } else {
        format!(", and could not judge {}", t.could_not_judge)
    }
}

/// One suggestion in a sentence: what repeats, in how many batches, and what to add.
pub(super) fn suggestion_sentence(s: &crate::replay::suggest::Suggestion) -> String {
    use crate::replay::suggest::Kind;
    match s.kind {
        Kind::Test => format!(
            "test `{}` failed in {} of {} such batches of group {}{}: add a `tests` rule — `known-flaky-days` learns it from these retries, or quarantine it with `failed`",
            s.what,
            s.batches,
            s.of,
            s.group,
            if s.held > 0 {
                format!(" (and in {} refusals that held)", s.held)
            } else {
                String::new()
            }
        ),
        Kind::LogLine => format!(
            "the log line `{}` showed in {} of {} such batches of group {} (in no refusal that held): add a `log: matches:` rule",
            s.what, s.batches, s.of, s.group
        ),
    }
}

/// Aligned columns, two spaces in front, cells separated by two spaces.
fn table_lines<const N: usize>(out: &mut String, rows: &[[String; N]]) {
    let mut widths = [0usize; N];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::from(" ");
        for (cell, w) in row.iter().zip(widths) {
            line.push(' ');
            line.push_str(cell);
            line.push_str(&" ".repeat(w - cell.chars().count() + 1));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}
