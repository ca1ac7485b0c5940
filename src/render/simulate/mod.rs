//! Renderings of one [`crate::replay::Replay`] (what `simulate` prints): a short summary for
//! the terminal, a versioned JSON object, and a job-summary markdown with a chart. Each a
//! pure function to a `String`.

pub mod compare;
pub mod json;
pub mod markdown;
pub mod text;

use crate::replay::{Replay, TimeTotal, Window, day_label};

/// `acme-web` or `acme-web, acme-api`, or `(no batches)`.
fn projects(r: &Replay) -> String {
    if r.projects.is_empty() {
        "(no batches)".to_string()
    } else {
        r.projects.join(", ")
    }
}

/// `2026-11-01 to 2026-11-30`, or how an open window reads.
fn window(w: &Window) -> String {
    match (w.since, w.until) {
        (Some(s), Some(u)) => format!("{} to {}", day_label(s.0), day_label(u.0)),
        (Some(s), None) => format!("since {}", day_label(s.0)),
        (None, Some(u)) => format!("until {}", day_label(u.0)),
        (None, None) => "at any time (every batch given)".to_string(),
    }
}

/// `12.5 build-minutes (9 builds)`, with the builds whose time is unknown.
fn minutes(t: &TimeTotal) -> String {
    let mut s = format!(
        "{:.1} build-minutes ({} build{})",
        t.minutes(),
        t.time.builds,
        plural(t.time.builds as usize)
    );
    if t.time.unknown > 0 {
        s.push_str(&format!(", {} more without times", t.time.unknown));
    }
    s
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// What the history read left out, in plain words.
pub(crate) fn notes(r: &Replay) -> Vec<String> {
    let mut notes = r.warnings.clone();
    if r.history_truncated {
        notes.push(
            "the project's history was read up to the page cap: the oldest batches in the window and the look-back before it may be missing, and budget counts drawn from them too low"
                .to_string(),
        );
    }
    let t = r.totals();
    if t.could_not_judge > 0 {
        notes.push(format!(
            "{} failed attempt{} could not be judged: a rule needed a fact that could not be read (a test report CodeBuild no longer keeps after 30 days or cannot find, a log past its CloudWatch retention or not captured, GitHub's facts); the gate would have refused {}, but {} counted as \"could not judge\", not as refusals{}",
            t.could_not_judge,
            plural(t.could_not_judge),
            if t.could_not_judge == 1 { "it" } else { "them" },
            if t.could_not_judge == 1 { "it is" } else { "they are" },
            if t.could_not_judge_fixed_by_hand > 0 {
                format!(" ({} of them then fixed by a retry by hand)", t.could_not_judge_fixed_by_hand)
            } else {
                String::new()
            }
        ));
    }
    if r.running > 0 {
        notes.push(format!(
            "{} batch{} still running when read: {} last attempt is not judged yet",
            r.running,
            if r.running == 1 { " was" } else { "es were" },
            if r.running == 1 { "its" } else { "their" }
        ));
    }
    notes
}

/// The "refused, then fixed by hand" section, so that its counts add up to the total: its
/// heading, the line before the per-group rows (when there are any), and what the rows
/// leave out.
struct FixedByHand {
    heading: String,
    rows_say: Option<String>,
    left_out: Vec<String>,
}

fn fixed_by_hand(r: &Replay) -> Option<FixedByHand> {
    let t = r.totals();
    if t.refused_but_fixed_by_hand == 0 {
        return None;
    }
    let n = t.refused_but_fixed_by_hand;
    let heading = format!(
        "Refused, then fixed by a retry by hand: {n} attempt{}",
        plural(n)
    );
    let k = t.fixed_by_hand_no_rule_allowed;
    let rows_say = (k > 0).then(|| {
        format!(
            "{k} refused for a failure no rule allowed (rules the policy may be missing), by failed group:"
        )
    });
    let mut left_out = Vec::new();
    let in_rows: usize = r.missed().iter().map(|m| m.count).sum();
    if k > 0 && in_rows != k {
        left_out.push(format!(
            "the rows count failed groups: {in_rows} in these {k} attempts"
        ));
    }
    let b = t.fixed_by_hand_budget_or_brake;
    if b > 0 {
        left_out.push(format!(
            "{b} more refused by a budget or a brake although the rules allowed every failure (see where a budget stopped a retry)"
        ));
    }
    Some(FixedByHand {
        heading,
        rows_say,
        left_out,
    })
}
