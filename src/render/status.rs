//! The commit status: state, and a description of at most 140 characters that still says
//! the essential why.

use crate::decision::{Decision, GroupVerdict, Outcome};
use crate::github::{CommitStatus, State};

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
        Outcome::Retry => d.groups.iter().find(|g| g.verdict == "retry"),
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
            if d.code.as_str() == "failure-not-allowed"
                || d.code.as_str() == "rule-budget-spent" =>
        {
            format!("Not retried: {}", compact_failure(g))
        }
        _ => full,
    };
    cut(&compact, MAX_DESCRIPTION)
}

/// `group PHASE CODE; rule R` / `group PHASE CODE; no rule allows it`, each part shortened.
fn compact_failure(g: &GroupVerdict) -> String {
    let mut s = cut(&crate::text::clean(&g.group, 200), 40);
    if let Some(phase) = &g.failed_phase {
        s.push(' ');
        s.push_str(&cut(&crate::text::clean(phase, 100), 24));
    }
    if let Some(code) = g
        .contexts
        .first()
        .map(|c| &c.status_code)
        .filter(|c| !c.is_empty())
    {
        s.push(' ');
        s.push_str(&cut(&crate::text::clean(code, 200), 40));
    }
    match &g.rule {
        Some(rule) => {
            s.push_str(if g.verdict == "retry" {
                "; rule "
            } else {
                "; refused by "
            });
            s.push_str(&cut(&crate::text::clean(&rule.name, 200), 30));
        }
        None => s.push_str("; no rule allows it"),
    }
    s
}

/// At most `max` bytes, cut on a character boundary, with `...` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", text[..end].trim_end())
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn cut_respects_bytes_and_char_boundaries() {
        assert_eq!(cut("abcdef", 6), "abcdef");
        assert_eq!(cut("abcdefg", 6), "abc...");
        let s = "ééééé"; // 10 bytes
        let c = cut(s, 8);
        assert!(c.len() <= 8, "{c}");
        assert!(c.ends_with("..."));
    }
}
