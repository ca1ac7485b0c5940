//! The job summary (`$GITHUB_STEP_SUMMARY`): the decision as markdown, with console links.
//!
//! Everything that came from a build or the service is escaped for a table cell (`|`,
//! backticks, HTML, line breaks) and cut short, and the table has a bounded number of rows,
//! so the summary stays far below GitHub's 1 MiB limit however large the batch.

use std::fmt::Write;

use super::links::{batch_url, build_url};
use crate::decision::{Decision, GroupRole, GroupVerdict, Outcome, VerdictCode};

/// Rows shown at most; the rest are counted.
pub const MAX_ROWS: usize = 200;
const MAX_CELL: usize = 160;

/// Text made safe for a markdown table cell.
pub fn escape(text: &str, max: usize) -> String {
    let clean = crate::text::clean(text, max);
    let mut out = String::with_capacity(clean.len() + 8);
    for c in clean.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '`' => out.push_str("\\`"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '*' | '_' | '[' | ']' | '\\' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Text shown as inline code: cleaned and cut, backticks replaced (inside a code span
/// nothing else is markup).
pub fn code_span(text: &str, max: usize) -> String {
    format!("`{}`", crate::text::clean(text, max).replace('`', "'"))
}

/// Escaped text with the decision's rule names (written `` `NAME` `` in reasons) shown as
/// code spans again: the policy author's own names are not backslash-escaped; everything
/// else stays escaped.
pub fn with_rule_names(d: &Decision, escaped: String) -> String {
    let mut out = escaped;
    let mut names: Vec<&str> = d
        .groups
        .iter()
        .filter_map(|g| g.rule.as_ref().map(|r| r.name.as_str()))
        .filter(|name| plain(name))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let written = format!("\\`{}\\`", escape(name, 100));
        if out.contains(&written) {
            out = out.replace(&written, &code_span(name, 100));
        }
    }
    out
}

/// A rule name in a summary: the policy author's own words, as a code span (so `_` and `*`
/// show as written, never backslash-escaped); a name with a backtick, `|`, `<`, `>`, `&`, `\`
/// or a bracket (which a code span cannot hold safely in a table, or a reader could take for
/// a link) is escaped like any other text.
pub fn rule_name(name: &str, max: usize) -> String {
    if plain(name) {
        code_span(name, max)
    } else {
        escape(name, max)
    }
}

/// Text a code span in a table cell shows as it is.
fn plain(text: &str) -> bool {
    !text.contains(['`', '|', '<', '>', '&', '\\', '[', ']'])
}

pub fn render(d: &Decision, acted: bool) -> String {
    let mut out = String::new();
    let icon = match d.decision {
        Outcome::Retry => "🔁",
        Outcome::Refuse => "⛔",
        Outcome::Pass => "✅",
        Outcome::Wait => "⏳",
    };
    let verb = match (d.decision, acted) {
        (Outcome::Retry, true) => "retried",
        (Outcome::Retry, false) => "would retry",
        (Outcome::Refuse, _) => "refused",
        (Outcome::Pass, _) => "passed",
        (Outcome::Wait, _) => "waiting",
    };
    let _ = writeln!(out, "### {icon} codebuild-retry-gate: {verb}\n");
    let _ = writeln!(out, "**{}**\n", with_rule_names(d, escape(&d.reason, 400)));
    let batch = match d
        .batch_arn
        .as_deref()
        .and_then(|arn| batch_url(arn, &d.batch_id))
    {
        Some(url) => format!("[{}]({url})", escape(&d.batch_id, 300)),
        None => escape(&d.batch_id, 300),
    };
    let _ = writeln!(out, "- **Batch**: {batch}");
    let _ = writeln!(out, "- **Project**: {}", escape(&d.project, 255));
    if let Some(commit) = &d.commit {
        let _ = writeln!(
            out,
            "- **Commit**: `{}`",
            escape(commit, 64).replace("\\`", "")
        );
    }
    if let Some(source) = &d.source_version {
        let forms: Vec<String> = source.canonical.iter().map(|f| code_span(f, 200)).collect();
        let _ = writeln!(
            out,
            "- **Source version**: {}, read as {}",
            code_span(&source.raw, 200),
            forms.join(", ")
        );
    }
    let _ = writeln!(out, "- **Policy**: {}", escape(&d.policy, 300));
    let _ = writeln!(out, "- **Decision code**: `{}`\n", d.code.as_str());

    let _ = writeln!(
        out,
        "| Group | Status | Failed phase | Context | Rule | Verdict |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    for g in d.groups.iter().take(MAX_ROWS) {
        let _ = writeln!(out, "{}", row(d, g));
    }
    if d.groups.len() > MAX_ROWS {
        let _ = writeln!(
            out,
            "\n_{} more groups not shown; `--format json` lists them all._",
            d.groups.len() - MAX_ROWS
        );
    }

    let b = &d.budget;
    let _ = writeln!(out, "\n**Budgets**\n");
    let _ = writeln!(out, "| Budget | Used | Limit | Left |\n|---|---|---|---|");
    let _ = writeln!(
        out,
        "| Per batch | {} | {} | {} |",
        b.per_batch.used, b.per_batch.limit, b.per_batch.remaining
    );
    let _ = writeln!(
        out,
        "| Per commit ({} batch{}, {} days) | {} | {} | {} |",
        b.commit_batches,
        if b.commit_batches == 1 { "" } else { "es" },
        b.lookback_days,
        b.per_commit.used,
        b.per_commit.limit,
        b.per_commit.remaining
    );
    if let Some(cap) = b.rule_cap {
        let _ = writeln!(
            out,
            "| Rule max-retries | {} | {cap} | {} |",
            b.per_batch.used,
            cap.saturating_sub(b.per_batch.used)
        );
    }
    if let Some(day) = b.per_project_per_day {
        let _ = writeln!(
            out,
            "| Per project, last 24 hours | {} | {} | {} |",
            day.used, day.limit, day.remaining
        );
    }
    if let Some(o) = b.outage {
        let _ = writeln!(
            out,
            "| Outage brake: other batches failed in {} min | {} | {} | {} |",
            o.within_minutes,
            o.failed_batches,
            o.threshold,
            if o.braking { "braking" } else { "-" }
        );
    }
    if let Some(f) = b.failed_share {
        let _ = writeln!(
            out,
            "| Failed groups (brakes above a share of {}) | {} | {} | {} |",
            f.max_failed_share.get(),
            f.failed_groups,
            f.groups,
            if f.braking { "braking" } else { "-" }
        );
    }
    for note in super::budget_notes(b) {
        let _ = writeln!(out, "\n> [!NOTE]\n> {}", escape(&note, 400));
    }
    crate::text::defuse(&out)
}

fn row(d: &Decision, g: &GroupVerdict) -> String {
    let dash = || "-".to_string();
    let group = match (d.batch_arn.as_deref(), g.build_id.as_deref()) {
        (Some(arn), Some(build))
            if g.code.is_root_failure() || g.code == VerdictCode::Collateral =>
        {
            match build_url(arn, build) {
                Some(url) => format!("[{}]({url})", escape(&g.group, 100)),
                None => escape(&g.group, 100),
            }
        }
        _ => escape(&g.group, 100),
    };
    let context = g.contexts.first().map_or_else(dash, |c| {
        match (c.status_code.is_empty(), c.message.is_empty()) {
            (false, false) => format!(
                "{}: {}",
                escape(&c.status_code, 80),
                escape(&c.message, MAX_CELL)
            ),
            (false, true) => escape(&c.status_code, 80),
            _ => escape(&c.message, MAX_CELL),
        }
    });
    let rule = g.rule.as_ref().map_or_else(dash, |r| {
        // The policy author's own name for it: a code span, never backslash-escaped.
        format!("{} (line {})", rule_name(&r.name, 60), r.line)
    });
    let verdict = match g.verdict {
        GroupRole::None => g.code.as_str().to_string(),
        v => format!(
            "**{}**: {}",
            v.as_str(),
            with_rule_names(d, escape(&g.detail, MAX_CELL))
        ),
    };
    format!(
        "| {group} | {} | {} | {context} | {rule} | {verdict} |",
        g.status.as_deref().map_or_else(dash, |s| escape(s, 30)),
        g.failed_phase
            .as_deref()
            .map_or_else(dash, |s| escape(s, 30)),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escape_defuses_table_breakers_html_and_newlines() {
        let s = escape("a|b`c<script>\n::error::x", 100);
        assert_eq!(s, "a\\|b\\`c&lt;script&gt; ::error::x");
        assert!(!s.contains('\n'));
    }
}
