//! The report of a `reconcile` run: one row per batch (what it found, what it did), as a
//! text table, a versioned JSON object, or a job-summary section.

use std::fmt::Write;

use serde::Serialize;

use super::markdown::escape;
use crate::decision::Decision;
use crate::facts::Timestamp;
use crate::text::clean;

/// Version of the JSON report's shape. Additive changes keep it; others raise it.
pub const REPORT_VERSION: u32 = 1;
/// Rows shown at most in the job summary; the rest are counted.
pub const MAX_SUMMARY_ROWS: usize = 200;
/// Decisions whose full summary is appended to the job summary, at most.
pub const MAX_SUMMARY_DECISIONS: usize = 20;

/// What `reconcile` found for a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Found {
    /// The batch has not ended.
    Running,
    /// Its commit cannot be established.
    NoCommit,
    /// A newer batch of the project built the same commit: that one decides the status.
    Superseded,
    /// No GitHub repository is known for it.
    NoRepository,
    /// The gate has posted no status on its commit.
    Missing,
    /// The gate's latest status is `pending`.
    Pending,
    /// The gate's latest status is final (success, failure, error) and was posted after
    /// the batch's latest attempt ended.
    Final,
    /// The gate's latest status is final but was posted before the batch's latest attempt
    /// ended: it was about an older batch or attempt, and is replaced.
    Stale,
    /// The gate's status could not be read.
    Unreadable,
}

impl Found {
    pub fn as_str(self) -> &'static str {
        match self {
            Found::Running => "running",
            Found::NoCommit => "no commit",
            Found::Superseded => "superseded",
            Found::NoRepository => "no repository",
            Found::Missing => "no status",
            Found::Pending => "pending",
            Found::Final => "final",
            Found::Stale => "stale",
            Found::Unreadable => "unreadable",
        }
    }
}

/// What `reconcile` did about a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Did {
    /// Nothing: nothing to settle (or nothing it may settle).
    LeftAlone,
    /// Called RetryBuildBatch (and posted `pending`).
    Retried,
    /// Posted the status.
    Posted,
    /// Judged it; the status already says so.
    Unchanged,
    /// Dry run: judged it, would have retried.
    WouldRetry,
    /// Dry run: judged it, would have posted the status.
    WouldPost,
    /// A call failed.
    Failed,
}

impl Did {
    pub fn as_str(self) -> &'static str {
        match self {
            Did::LeftAlone => "left alone",
            Did::Retried => "retried",
            Did::Posted => "posted",
            Did::Unchanged => "unchanged",
            Did::WouldRetry => "would retry",
            Did::WouldPost => "would post",
            Did::Failed => "failed",
        }
    }
}

/// What `reconcile` did about an open pull request (step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PullDid {
    /// Posted `success` "Not built": the project's webhook filters cannot start a batch.
    NotBuilt,
    /// Dry run: would have posted it.
    WouldPost,
    /// Nothing (why in the note).
    LeftAlone,
    /// A call failed.
    Failed,
}

impl PullDid {
    pub fn as_str(self) -> &'static str {
        match self {
            PullDid::NotBuilt => "posted not built",
            PullDid::WouldPost => "would post not built",
            PullDid::LeftAlone => "left alone",
            PullDid::Failed => "failed",
        }
    }
}

/// One open pull request of the report.
#[derive(Debug, Clone, Serialize)]
pub struct PullRow {
    pub number: u64,
    pub head_sha: String,
    pub did: PullDid,
    pub note: String,
}

/// Step 2 of a run: the open pull requests CodeBuild will not build.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pulls {
    /// Why the step did nothing at all, or what it could not read.
    pub note: Option<String>,
    /// The step itself failed (a read of the project or of the pull requests).
    pub failed: bool,
    pub rows: Vec<PullRow>,
}

impl Pulls {
    pub fn not_built(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.did, PullDid::NotBuilt | PullDid::WouldPost))
            .count()
    }

    pub fn failures(&self) -> usize {
        usize::from(self.failed)
            + self
                .rows
                .iter()
                .filter(|r| r.did == PullDid::Failed)
                .count()
    }
}

/// One batch of the report.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub batch_id: String,
    /// CodeBuild's status of the batch.
    pub batch_status: Option<String>,
    pub commit: Option<String>,
    pub found: Found,
    /// The state of the gate's latest status, when one was read.
    pub seen_state: Option<String>,
    pub did: Did,
    /// The state of the status posted (or that a dry run would post).
    pub posted_state: Option<String>,
    /// In plain words: why it was left alone, the decision's reason, or the error.
    pub note: String,
    /// The judgment, when the batch was judged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Judged>,
}

/// The parts of a decision the report shows (the job summary adds the decision in full).
#[derive(Debug, Clone, Serialize)]
pub struct Judged {
    pub decision: &'static str,
    pub code: &'static str,
    pub reason: String,
    pub attempt: Option<u32>,
    #[serde(skip)]
    pub full: Box<Decision>,
}

impl Judged {
    pub fn of(d: &Decision) -> Judged {
        Judged {
            decision: d.decision.as_str(),
            code: d.code.as_str(),
            reason: d.reason.clone(),
            attempt: d.attempt,
            full: Box::new(d.clone()),
        }
    }
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub version: u32,
    pub project: String,
    pub hours: u64,
    /// Batches that ended at or after this time were considered (RFC 3339).
    pub window_start: String,
    pub dry_run: bool,
    /// Newest first.
    pub batches: Vec<Row>,
    /// Batches listed that ended before the window: left alone, not shown.
    pub older: usize,
    /// The listing was cut by its page cap: batches may be missing.
    pub history_incomplete: bool,
    /// Rows whose calls failed (pull requests included).
    pub failed: usize,
    /// Step 2: open pull requests CodeBuild will not build.
    pub pulls: Pulls,
}

impl Report {
    pub fn new(project: &str, hours: u64, window_start: Timestamp, dry_run: bool) -> Report {
        Report {
            version: REPORT_VERSION,
            project: project.to_string(),
            hours,
            window_start: rfc3339(window_start),
            dry_run,
            batches: Vec::new(),
            older: 0,
            history_incomplete: false,
            failed: 0,
            pulls: Pulls::default(),
        }
    }

    /// Rows whose batch was judged and acted on (or would have been, in a dry run).
    pub fn settled(&self) -> usize {
        self.batches
            .iter()
            .filter(|r| !matches!(r.did, Did::LeftAlone | Did::Failed | Did::Unchanged))
            .count()
    }

    /// Rows whose batch was retried (or would have been, in a dry run).
    pub fn retried(&self) -> usize {
        self.batches
            .iter()
            .filter(|r| matches!(r.did, Did::Retried | Did::WouldRetry))
            .count()
    }

    /// The step's outputs under Actions: `settled`, `retried`, `not-built`.
    pub fn outputs(&self) -> [(&'static str, String); 3] {
        [
            ("settled", self.settled().to_string()),
            ("retried", self.retried().to_string()),
            ("not-built", self.pulls.not_built().to_string()),
        ]
    }

    /// One line: how many batches, what came of them.
    pub fn headline(&self) -> String {
        let n = self.batches.len();
        format!(
            "{}: {n} batch{} ended in the last {} h or still running; {} {}, {} failed{}",
            clean(&self.project, 100),
            if n == 1 { "" } else { "es" },
            self.hours,
            self.settled(),
            if self.dry_run {
                "would be settled (dry run)"
            } else {
                "settled"
            },
            self.failed,
            if self.older > 0 {
                format!("; {} older batch(es) left alone", self.older)
            } else {
                String::new()
            }
        ) + &match self.pulls.not_built() {
            0 => String::new(),
            n => format!(
                "; {n} pull request(s) CodeBuild will not build {}",
                if self.dry_run {
                    "would get `success` (dry run)"
                } else {
                    "got `success`"
                }
            ),
        }
    }
}

/// `2026-12-01T04:15:00Z`.
pub fn rfc3339(t: Timestamp) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000)
        .ok()
        .and_then(|at| {
            at.replace_nanosecond(0)
                .ok()?
                .format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.0.to_string())
}

fn short(commit: Option<&str>) -> String {
    commit.map_or_else(
        || "-".to_string(),
        |c| clean(crate::text::first_chars(c, 12), 12),
    )
}

fn found_text(r: &Row) -> String {
    match (&r.found, &r.seen_state) {
        (Found::Final | Found::Pending, Some(state)) => clean(state, 20),
        (Found::Stale, Some(state)) => format!("stale {}", clean(state, 20)),
        (found, _) => found.as_str().to_string(),
    }
}

fn did_text(r: &Row) -> String {
    match (&r.did, &r.posted_state) {
        (Did::Posted | Did::WouldPost, Some(state)) => {
            format!("{} {}", r.did.as_str(), clean(state, 20))
        }
        (did, _) => did.as_str().to_string(),
    }
}

/// The text table.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "RECONCILE  {}", report.headline());
    if report.history_incomplete {
        let _ = writeln!(
            out,
            "  note     the listing was cut at its page cap: older batches of the window may be missing"
        );
    }
    text_pulls(&mut out, &report.pulls);
    if report.batches.is_empty() {
        return crate::text::defuse(&out);
    }
    let rows: Vec<[String; 5]> = report
        .batches
        .iter()
        .map(|r| {
            [
                clean(&r.batch_id, 80),
                short(r.commit.as_deref()),
                found_text(r),
                did_text(r),
                clean(&r.note, 160),
            ]
        })
        .collect();
    let header = ["BATCH", "COMMIT", "FOUND", "DID", "WHY"];
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String; 5]| {
        let mut l = String::from("  ");
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                l.push_str(cell);
            } else {
                let pad = w - cell.chars().count();
                let _ = write!(l, "{cell}{}  ", " ".repeat(pad));
            }
        }
        l.trim_end().to_string()
    };
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", line(&header.map(str::to_string)));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row));
    }
    crate::text::defuse(&out)
}

/// The pull requests of step 2 in the text report.
fn text_pulls(out: &mut String, pulls: &Pulls) {
    if let Some(note) = &pulls.note {
        let _ = writeln!(out, "  pulls    {}", clean(note, 300));
    }
    for r in &pulls.rows {
        let _ = writeln!(
            out,
            "  pull request #{} {}  {}: {}",
            r.number,
            short(Some(&r.head_sha)),
            r.did.as_str(),
            clean(&r.note, 200)
        );
    }
}

/// The versioned JSON object, ending in a newline.
pub fn json(report: &Report) -> String {
    let mut out =
        serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    // As in the gate's report: the runner reads a legacy `##[command]` anywhere in a line.
    out.replace("##[", "#\\u0023[")
}

/// The job-summary section: the table, then each judged batch's own summary.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let verb = if report.dry_run {
        "reconcile (dry run)"
    } else {
        "reconcile"
    };
    let _ = writeln!(out, "### 🧹 codebuild-retry-gate {verb}\n");
    let _ = writeln!(out, "**{}**\n", escape(&report.headline(), 400));
    let _ = writeln!(out, "| settled | retried | not built | failed |");
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} |\n",
        report.settled(),
        report.retried(),
        report.pulls.not_built(),
        report.failed
    );
    if report.history_incomplete {
        let _ = writeln!(
            out,
            "_The listing was cut at its page cap: older batches of the window may be missing._\n"
        );
    }
    if !report.batches.is_empty() {
        let _ = writeln!(out, "| batch | commit | found | did | why |");
        let _ = writeln!(out, "|---|---|---|---|---|");
        for r in report.batches.iter().take(MAX_SUMMARY_ROWS) {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                escape(&r.batch_id, 120),
                escape(&short(r.commit.as_deref()), 12),
                escape(&found_text(r), 20),
                escape(&did_text(r), 40),
                escape(&r.note, 160),
            );
        }
        if report.batches.len() > MAX_SUMMARY_ROWS {
            let _ = writeln!(
                out,
                "\n_{} more batches not shown._",
                report.batches.len() - MAX_SUMMARY_ROWS
            );
        }
        let _ = writeln!(out);
    }
    if report.pulls.note.is_some() || !report.pulls.rows.is_empty() {
        let _ = writeln!(out, "**Pull requests CodeBuild will not build**\n");
        if let Some(note) = &report.pulls.note {
            let _ = writeln!(out, "_{}_\n", escape(note, 300));
        }
        if !report.pulls.rows.is_empty() {
            let _ = writeln!(out, "| pull request | head | did | why |");
            let _ = writeln!(out, "|---|---|---|---|");
            for r in report.pulls.rows.iter().take(MAX_SUMMARY_ROWS) {
                let _ = writeln!(
                    out,
                    "| #{} | {} | {} | {} |",
                    r.number,
                    escape(&short(Some(&r.head_sha)), 12),
                    r.did.as_str(),
                    escape(&r.note, 200)
                );
            }
            let _ = writeln!(out);
        }
    }
    let judged = report
        .batches
        .iter()
        .filter_map(|r| Some((r, r.decision.as_ref()?)));
    for (row, judged) in judged.take(MAX_SUMMARY_DECISIONS) {
        let acted = matches!(row.did, Did::Retried | Did::Posted | Did::Unchanged);
        out.push_str(&super::markdown::render(&judged.full, acted));
        out.push('\n');
    }
    crate::text::defuse(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(batch: &str, found: Found, did: Did, note: &str) -> Row {
        Row {
            batch_id: batch.into(),
            batch_status: Some("FAILED".into()),
            commit: Some("b80469b84b2d451c62f746b484e61ceb95bd447e".into()),
            found,
            seen_state: None,
            did,
            posted_state: None,
            note: note.into(),
            decision: None,
        }
    }

    fn report() -> Report {
        let mut r = Report::new("acme-api", 6, Timestamp(1_795_000_000_000), false);
        r.batches.push(Row {
            seen_state: Some("pending".into()),
            posted_state: Some("success".into()),
            ..row(
                "acme-api:1",
                Found::Pending,
                Did::Posted,
                "Passed after 1 retry",
            )
        });
        r.batches.push(row(
            "acme-api:2",
            Found::Running,
            Did::LeftAlone,
            "still running",
        ));
        r.batches.push(row(
            "acme-api:3|`<x>`",
            Found::Unreadable,
            Did::Failed,
            "GitHub get combined commit status failed (HTTP 502)\n::error::x",
        ));
        r.failed = 1;
        r.older = 2;
        r
    }

    #[test]
    fn the_text_table_says_what_was_found_and_done() {
        let text = text(&report());
        insta::assert_snapshot!(text, @r"
        RECONCILE  acme-api: 3 batches ended in the last 6 h or still running; 1 settled, 1 failed; 2 older batch(es) left alone

          BATCH             COMMIT        FOUND       DID             WHY
          acme-api:1        b80469b84b2d  pending     posted success  Passed after 1 retry
          acme-api:2        b80469b84b2d  running     left alone      still running
          acme-api:3|`<x>`  b80469b84b2d  unreadable  failed          GitHub get combined commit status failed (HTTP 502) ::error::x
        ");
    }

    #[test]
    fn json_is_versioned_and_uses_codes() {
        let value: serde_json::Value = serde_json::from_str(&json(&report())).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["window_start"], "2026-11-18T11:06:40Z");
        assert_eq!(value["batches"][0]["found"], "pending");
        assert_eq!(value["batches"][0]["did"], "posted");
        assert_eq!(value["batches"][1]["did"], "left-alone");
        assert_eq!(value["failed"], 1);
        assert_eq!(value["older"], 2);
    }

    #[test]
    fn markdown_cells_are_escaped() {
        let md = markdown(&report());
        assert!(
            md.starts_with("### 🧹 codebuild-retry-gate reconcile\n"),
            "{md}"
        );
        assert!(md.contains("| acme-api:3\\|\\`&lt;x&gt;\\` |"), "{md}");
        assert!(!md.contains("\n::error"), "{md}");
    }
}
