//! The comparison of `simulate --compare OLD`, as the text and markdown reports lead with it:
//! the headline, then every attempt decided differently (bounded), each with what really
//! happened next.

use std::fmt::Write;

use crate::render::markdown::{escape, rule_name};
use crate::replay::compare::{Change, Comparison};
use crate::replay::iso;
use crate::text::clean;

/// Changed attempts listed at most; the rest are counted (`--format json` has them all).
pub const MAX_CHANGES: usize = 50;

fn side(decision: &str, code: &str, rule: Option<&str>) -> String {
    match rule {
        Some(rule) => format!("{decision} ({code}, rule {rule})"),
        None => format!("{decision} ({code})"),
    }
}

fn before(c: &Change) -> String {
    side(c.before.decision, c.before.code, c.before.rule.as_deref())
}

fn after(c: &Change) -> String {
    side(c.after.decision, c.after.code, c.after.rule.as_deref())
}

/// A side as a markdown cell: the rule (the policy author's name) in a code span, never
/// backslash-escaped; decisions and codes are our own words.
fn side_markdown(side: &crate::replay::compare::Side) -> String {
    match side.rule.as_deref() {
        Some(rule) => format!(
            "{} (`{}`, rule {})",
            side.decision,
            side.code,
            rule_name(rule, 100)
        ),
        None => format!("{} (`{}`)", side.decision, side.code),
    }
}

fn ended(c: &Change) -> String {
    c.ended_at.and_then(iso).map_or("-".to_string(), |t| {
        crate::text::first_chars(&t, 16).replace('T', " ")
    })
}

/// The text section, ending with a blank line.
pub fn text(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "COMPARE   {}", clean(&c.headline(), 400));
    let _ = writeln!(out, "  old      {}", clean(&c.old_policy, 300));
    for change in c.changed.iter().take(MAX_CHANGES) {
        let _ = writeln!(
            out,
            "  {}  {} attempt {}: {} -> {}; then {}",
            ended(change),
            clean(&change.batch_id, 200),
            change.attempt,
            clean(&before(change), 200),
            clean(&after(change), 200),
            change.then
        );
    }
    if c.changed.len() > MAX_CHANGES {
        let _ = writeln!(
            out,
            "  ... {} more (--format json lists them all)",
            c.changed.len() - MAX_CHANGES
        );
    }
    let _ = writeln!(out);
    out
}

/// The markdown section, ending with a blank line.
pub fn markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### 🔍 Policy change: {}\n",
        escape(&c.headline(), 400)
    );
    let _ = writeln!(
        out,
        "Compared with the old policy **{}** over the same history.\n",
        escape(&c.old_policy, 300)
    );
    let t = &c.totals;
    let _ = writeln!(
        out,
        "| | Attempts | Then fixed by a retry | Not fixed (nobody retried, or the retry failed again) |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| Newly retried | {} | {} | {} |",
        t.newly_retried, t.newly_retried_fixed_by_hand, t.newly_retried_held
    );
    let _ = writeln!(
        out,
        "| Newly refused | {} | {} | {} |",
        t.newly_refused, t.newly_refused_fixed_by_hand, t.newly_refused_held
    );
    if !c.changed.is_empty() {
        let _ = writeln!(
            out,
            "\n| Ended | Batch | Attempt | Before | After | Then |\n|---|---|---|---|---|---|"
        );
        for change in c.changed.iter().take(MAX_CHANGES) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                ended(change),
                escape(&change.batch_id, 200),
                change.attempt,
                side_markdown(&change.before),
                side_markdown(&change.after),
                change.then
            );
        }
        if c.changed.len() > MAX_CHANGES {
            let _ = writeln!(
                out,
                "\n_{} more changed attempts not shown; `--format json` lists them all._",
                c.changed.len() - MAX_CHANGES
            );
        }
    }
    let _ = writeln!(out);
    out
}
