//! Renderings of one [`crate::decision::Decision`]: each a pure function to a `String`.

pub mod json;
pub mod links;
pub mod markdown;
pub mod reconcile;
pub mod simulate;
pub mod status;
pub mod text;

/// Text from a build or the service made safe to show: control characters (newlines, ESC,
/// CR…) become spaces, and the result is cut at `max` characters with an ellipsis.
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max * 4));
    for (i, c) in text.chars().enumerate() {
        if i == max {
            out.pop();
            out.push('…');
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    defuse(&out)
}

/// Breaks the sequences the Actions runner reads as workflow commands — `::` (at a line's
/// start, after whitespace) and the legacy `##[` (anywhere) — with a plain space, so text
/// from a build can be shown but never obeyed (no invisible character to normalise away).
pub fn defuse(text: &str) -> String {
    if !text.contains("::") && !text.contains("##[") {
        return text.to_string();
    }
    text.replace("::", ": :").replace("##[", "# #[")
}

/// Caveats about the budget figures, in plain words (shown under the budgets).
pub fn budget_notes(b: &crate::decision::BudgetReport) -> Vec<String> {
    let mut notes = Vec::new();
    if !b.commit_known {
        notes.push(
            "the batch's commit is unknown (no resolvedSourceVersion, and sourceVersion is not a commit SHA): the per-commit budget counts this batch only"
                .to_string(),
        );
    }
    if b.history_incomplete {
        notes.push(
            "the project's history was cut at the page cap inside the look-back: counts drawn from it may be too low, so the gate does not retry on them (history-incomplete)"
                .to_string(),
        );
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn clean_removes_control_characters_and_cuts() {
        assert_eq!(clean("a\nb\x1b[31mc", 100), "a b [31mc");
        assert_eq!(clean("abcdef", 4), "abc…");
        assert_eq!(clean("abcd", 4), "abcd");
        assert_eq!(
            clean("::add-mask::x ##[error]y", 100),
            ": :add-mask: :x # #[error]y"
        );
    }
}
