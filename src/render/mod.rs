//! Renderings of one [`crate::decision::Decision`]: each a pure function to a `String`.

pub mod json;
pub mod links;
pub mod markdown;
pub mod reconcile;
pub mod simulate;
pub mod status;
pub mod text;

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
