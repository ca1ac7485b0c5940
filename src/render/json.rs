//! `--format json`: a versioned report object.

use serde::Serialize;

use crate::decision::Decision;

/// Version of the JSON report's shape. Additive changes keep it; others raise it.
pub const REPORT_VERSION: u32 = 1;

#[derive(Serialize)]
struct Report<'a> {
    version: u32,
    #[serde(flatten)]
    decision: &'a Decision,
    /// Whether the gate called RetryBuildBatch or posted a commit status.
    acted: bool,
}

/// The report as pretty JSON, ending in a newline.
pub fn render(decision: &Decision, acted: bool) -> String {
    let report = Report {
        version: REPORT_VERSION,
        decision,
        acted,
    };
    let mut out =
        serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    out.push('\n');
    // The runner reads a legacy `##[command]` anywhere in a line; `\u0023` is the same `#`
    // to any JSON reader.
    out.replace("##[", "#\\u0023[")
}
