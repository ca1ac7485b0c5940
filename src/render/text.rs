//! The terminal rendering: a headline, a table of groups, the budgets.

use std::fmt::Write;

use crate::decision::{Decision, GroupRole, GroupVerdict, Outcome, VerdictCode};
use crate::text::clean;

const MAX_CONTEXT: usize = 60;
const MAX_DETAIL: usize = 300;

pub fn render(d: &Decision) -> String {
    let mut out = String::new();
    let label = match d.decision {
        Outcome::Retry => "RETRY",
        Outcome::Refuse => "REFUSE",
        Outcome::Pass => "PASS",
        Outcome::Wait => "WAIT",
    };
    let _ = writeln!(out, "{label}  {}", clean(&d.reason, 400));
    let _ = writeln!(out);
    let _ = writeln!(out, "  batch    {}", clean(&d.batch_id, 200));
    let _ = writeln!(
        out,
        "  project  {}   commit {}   status {}",
        clean(&d.project, 200),
        d.commit
            .as_deref()
            .map_or("(unknown)".to_string(), |c| clean(c, 40)),
        d.batch_status
            .as_deref()
            .map_or("(unknown)".to_string(), |s| clean(s, 40)),
    );
    if let Some(source) = &d.source_version {
        let _ = writeln!(
            out,
            "  source   {}   read as {}",
            clean(&source.raw, 200),
            source
                .canonical
                .iter()
                .map(|f| clean(f, 200))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        out,
        "  policy   {}   [{}]",
        clean(&d.policy, 200),
        d.code.as_str()
    );
    let _ = writeln!(out);

    let header = [
        "GROUP",
        "STATUS",
        "FAILED PHASE",
        "CONTEXT",
        "RULE",
        "VERDICT",
    ];
    let rows: Vec<[String; 6]> = d.groups.iter().map(row).collect();
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 6]| {
        let mut s = String::from(" ");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            s.push(' ');
            s.push_str(cell);
            if i < 5 {
                s.push_str(&" ".repeat(w - cell.chars().count() + 1));
            }
        }
        s.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header));
    for r in &rows {
        let _ = writeln!(out, "{}", line([&r[0], &r[1], &r[2], &r[3], &r[4], &r[5]]));
    }

    let roots: Vec<&GroupVerdict> = d
        .groups
        .iter()
        .filter(|g| g.code.is_root_failure() || g.code == VerdictCode::Collateral)
        .collect();
    if !roots.is_empty() {
        let _ = writeln!(out);
        for g in roots {
            let _ = writeln!(
                out,
                "  {}: {} [{}]",
                clean(&g.group, 100),
                clean(&g.detail, MAX_DETAIL),
                g.code.as_str()
            );
            for c in &g.contexts {
                let _ = writeln!(
                    out,
                    "    {}: {}",
                    clean(&c.status_code, 100),
                    clean(&c.message, MAX_DETAIL)
                );
            }
            if let Some(rule) = &g.rule {
                let _ = writeln!(
                    out,
                    "    rule `{}` ({}) at {}:{}",
                    clean(&rule.name, 100),
                    rule.action.as_str(),
                    clean(&rule.file, 200),
                    rule.line
                );
            }
        }
    }

    let b = &d.budget;
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "  budget   per batch {}/{} used   per commit {}/{} used ({} batch{}, {} days)   {} retr{} left{}",
        b.per_batch.used,
        b.per_batch.limit,
        b.per_commit.used,
        b.per_commit.limit,
        b.commit_batches,
        if b.commit_batches == 1 { "" } else { "es" },
        b.lookback_days,
        b.remaining,
        if b.remaining == 1 { "y" } else { "ies" },
        b.rule_cap
            .map_or(String::new(), |c| format!(" (rule max-retries {c})")),
    );
    if let Some(day) = b.per_project_per_day {
        let _ = writeln!(
            out,
            "           per project {}/{} used in the last 24 hours",
            day.used, day.limit
        );
    }
    if let Some(o) = b.outage {
        let _ = writeln!(
            out,
            "           outage brake: {} other batch{} failed in {} min (brakes at {}){}",
            o.failed_batches,
            if o.failed_batches == 1 { "" } else { "es" },
            o.within_minutes,
            o.threshold,
            if o.braking { ": BRAKING" } else { "" }
        );
    }
    if let Some(f) = b.failed_share {
        let _ = writeln!(
            out,
            "           failed groups: {} of {} (brakes above {}){}",
            f.failed_groups,
            f.groups,
            f.max_failed_share.get(),
            if f.braking { ": BRAKING" } else { "" }
        );
    }
    for note in super::budget_notes(b) {
        let _ = writeln!(out, "  note     {note}");
    }
    out
}

fn row(g: &GroupVerdict) -> [String; 6] {
    let dash = || "-".to_string();
    let context = g.contexts.first().map_or_else(dash, |c| {
        let text = if c.status_code.is_empty() {
            c.message.clone()
        } else if c.message.is_empty() {
            c.status_code.clone()
        } else {
            format!("{}: {}", c.status_code, c.message)
        };
        clean(&text, MAX_CONTEXT)
    });
    [
        clean(&g.group, 40),
        g.status.as_deref().map_or_else(dash, |s| clean(s, 20)),
        g.failed_phase
            .as_deref()
            .map_or_else(dash, |s| clean(s, 24)),
        context,
        g.rule.as_ref().map_or_else(dash, |r| clean(&r.name, 40)),
        match g.verdict {
            GroupRole::None => g.code.as_str().to_string(),
            v => v.as_str().to_string(),
        },
    ]
}
