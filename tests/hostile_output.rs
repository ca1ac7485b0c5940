//! Hostile text on the way out. Phase-context messages, group names, status codes, phase
//! types and rule names are attacker-controlled (a build prints anything; a pull request edits
//! the buildspec). None of it may inject a GitHub workflow command, break the job summary's
//! tables, push the commit-status description over 140 characters, or break `$GITHUB_OUTPUT`.
//! Forged `status` events (a target_url on another host, an odd batch id, a project outside
//! the policy) never lead to a retry outside the policy.
//!
//! Decisions are built through the real path: `explain` and `gate` (against the local fakes)
//! on captures whose text is hostile, and `decide` on generated facts and policies in the
//! property tests. What the runner does with a line is modelled on actions/runner
//! (`ActionCommand.TryParseV2`: `::name` after leading whitespace; `TryParse`: the legacy
//! `##[name]` anywhere in a line; `FileCommandManager`: `name<<DELIM` heredocs).
//!
//! Case counts are in the `CASES_*` constants; `HOSTILE_FUZZ_SCALE=N` multiplies them.

mod common;
mod fakes;

use std::collections::BTreeMap;
use std::path::Path;

use codebuild_retry_gate::actions;
use codebuild_retry_gate::decide::decide;
use codebuild_retry_gate::decision::{Decision, VerdictCode};
use codebuild_retry_gate::facts::{
    Batch, Build, BuildSummary, Context, Facts, Group, Phase, Status,
};
use codebuild_retry_gate::policy::Policy;
use codebuild_retry_gate::render;
use fakes::{FakeCodeBuild, FakeGitHub};
use futures_util::StreamExt;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

const CASES_DECISIONS: u32 = 800;
const CASES_OUTPUTS: u32 = 1000;
const CASES_COMMANDS: u32 = 1500;

fn config(cases: u32) -> ProptestConfig {
    let scale = std::env::var("HOSTILE_FUZZ_SCALE")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .filter(|s| *s > 0)
        .unwrap_or(1);
    ProptestConfig {
        cases: cases.saturating_mul(scale),
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Hostile text
// ---------------------------------------------------------------------------------------

/// Text a build can print, or a buildspec can name a group.
const HOSTILE: [&str; 26] = [
    "line\n::add-mask::secret-one",
    "x\r\n::error::pwned",
    "\n::stop-commands::tok123",
    "cr\r::warning::cr-only",
    "::add-mask::at-start",
    "  ::notice::indented",
    "\t::debug::tabbed",
    "\u{2003}::group::em-space",
    "\u{200b}::endgroup::zero-width",
    "##[add-mask]legacy",
    "text ##[error]legacy-mid-line",
    "##[set-output name=decision]retry",
    "a|b||c|",
    "\\|escaped-pipe\\",
    "`code` ``` ``",
    "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "<!-- comment --> &lt;entity&gt; &#x3C;b&#x3E;",
    "[link](javascript:alert(1)) ![img](https://evil.example/x.png)",
    "**bold** _it_ ~~s~~ # h > quote",
    "%0A::add-mask::percent %25 %3A %2C",
    "\u{2028}ls\u{2029}ps\u{85}nel",
    "\x1b[31mred\x1b[0m\x07bell\0nul",
    "\u{202e}evil-rtl \u{feff}bom",
    "😀\u{0301} ünï ☃ 日本",
    "",
    "   ",
];

/// The hostile set without the strings that can only be defused by escaping `##[` or a
/// leading `::` (see the ignored tests): newline-led injections only.
fn newline_led() -> Vec<&'static str> {
    HOSTILE
        .iter()
        .copied()
        .filter(|s| !s.contains("##[") && !s.trim_start_matches(is_ignorable).starts_with("::"))
        .collect()
}

/// 100 KB of table breakers, backticks, HTML and newline-led commands.
fn huge() -> String {
    "A|`<b>\n::add-mask::Z ".repeat(100 * 1024 / 24)
}

// ---------------------------------------------------------------------------------------
// The runner's view of a line
// ---------------------------------------------------------------------------------------

/// Commands the runner knows (actions/runner registers these; names compare ignoring case).
const REGISTERED: [&str; 15] = [
    "set-env",
    "set-output",
    "save-state",
    "add-mask",
    "add-path",
    "add-matcher",
    "remove-matcher",
    "debug",
    "warning",
    "error",
    "notice",
    "group",
    "endgroup",
    "echo",
    "stop-commands",
];

/// Whitespace (`TrimStart`) and characters that culture-sensitive comparison ignores.
fn is_ignorable(c: char) -> bool {
    c.is_whitespace()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}' | '\u{ad}')
}

#[derive(Debug, PartialEq)]
struct RunnerCommand {
    legacy: bool,
    name: String,
    properties: Vec<(String, String)>,
    data: String,
}

fn unescape(text: &str, mappings: &[(&str, &str)]) -> String {
    let mut s = text.to_string();
    for (token, replacement) in mappings {
        s = s.replace(replacement, token);
    }
    s
}

const DATA_MAPPINGS: [(&str, &str); 3] = [("\r", "%0D"), ("\n", "%0A"), ("%", "%25")];
const PROPERTY_MAPPINGS: [(&str, &str); 5] = [
    ("\r", "%0D"),
    ("\n", "%0A"),
    (":", "%3A"),
    (",", "%2C"),
    ("%", "%25"),
];

/// `ActionCommand.TryParseV2` then `TryParse`, as `ActionCommandManager` tries them.
fn runner_command(line: &str) -> Option<RunnerCommand> {
    let registered = |name: &str| REGISTERED.iter().any(|r| r.eq_ignore_ascii_case(name));
    // V2: `::name props::data` after leading whitespace.
    let message: String = line.trim_start_matches(is_ignorable).to_string();
    if let Some(rest) = message.strip_prefix("::")
        && let Some(end) = rest.find("::")
    {
        let info = &rest[..end];
        let (name, props) = info.split_once(' ').unwrap_or((info, ""));
        if registered(name) {
            let properties = props
                .trim()
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    (!k.is_empty() && !v.is_empty())
                        .then(|| (k.to_string(), unescape(v, &PROPERTY_MAPPINGS)))
                })
                .collect();
            return Some(RunnerCommand {
                legacy: false,
                name: name.to_string(),
                properties,
                data: unescape(&rest[end + 2..], &DATA_MAPPINGS),
            });
        }
    }
    // Legacy: `##[name props]data` anywhere in the line.
    let flat: String = line
        .chars()
        .filter(|c| !is_ignorable(*c) || *c == ' ')
        .collect();
    let start = flat.find("##[")?;
    let rb = flat[start..].find(']')? + start;
    let info = &flat[start + 3..rb];
    let name = info.split(' ').next().unwrap_or_default();
    registered(name).then(|| RunnerCommand {
        legacy: true,
        name: name.to_string(),
        properties: Vec::new(),
        data: flat[rb + 1..].to_string(),
    })
}

/// The lines of a stream the runner reads: it splits on LF, CR and CRLF.
fn runner_lines(text: &str) -> Vec<&str> {
    text.split(['\n', '\r']).collect()
}

/// Every line of `text` that the runner would act on.
fn commands_in(text: &str) -> Vec<(String, RunnerCommand)> {
    runner_lines(text)
        .into_iter()
        .filter_map(|l| runner_command(l).map(|c| (l.to_string(), c)))
        .collect()
}

/// What the gate printed may carry its own commands (`::warning::…`, `::group::…` at the
/// start of a line); nothing else.
fn foreign_commands_in_stderr(stderr: &str) -> Vec<(String, RunnerCommand)> {
    commands_in(stderr)
        .into_iter()
        .filter(|(line, c)| {
            let own = !c.legacy
                && line.starts_with(&format!("::{}", c.name))
                && ["notice", "warning", "debug", "error", "group", "endgroup"]
                    .contains(&c.name.as_str());
            !own
        })
        .collect()
}

/// `$GITHUB_OUTPUT` as the runner reads it on Linux (`FileCommandManager`: `NAME=VALUE` or
/// `NAME<<DELIM` … `DELIM`, lines split on LF).
fn runner_outputs(text: &str) -> Result<Vec<(String, String)>, String> {
    fn read_line<'a>(text: &'a str, index: &mut usize) -> Option<(&'a str, usize)> {
        if *index >= text.len() {
            return None;
        }
        let start = *index;
        match text[start..].find('\n') {
            None => {
                *index = text.len();
                Some((&text[start..], 0))
            }
            Some(lf) => {
                *index = start + lf + 1;
                Some((&text[start..start + lf], 1))
            }
        }
    }
    let mut out = Vec::new();
    let mut index = 0;
    while let Some((line, _)) = read_line(text, &mut index) {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_string(), line[e + 1..].to_string()));
            }
            (_, Some(h)) => {
                let (name, delimiter) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delimiter.is_empty() {
                    return Err(format!("empty name or delimiter in {line:?}"));
                }
                let start = index;
                let mut end = index;
                loop {
                    let Some((l, newline)) = read_line(text, &mut index) else {
                        return Err(format!("Matching delimiter not found '{delimiter}'"));
                    };
                    if l == delimiter {
                        break;
                    }
                    if newline == 0 {
                        return Err("a value line without a newline".into());
                    }
                    end = index - newline;
                }
                let value = if end > start { &text[start..end] } else { "" };
                out.push((name.to_string(), value.to_string()));
            }
            _ => return Err(format!("Invalid format {line:?}")),
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// The job summary's shape
// ---------------------------------------------------------------------------------------

/// Cells of a markdown table row, split on pipes that no backslash escapes (GFM treats `\|`
/// as a literal pipe inside a cell, whatever precedes the backslash).
fn cells(row: &str) -> Option<usize> {
    let inner = row.strip_prefix('|')?.strip_suffix('|')?;
    let mut n = 1;
    let mut prev = ' ';
    for c in inner.chars() {
        if c == '|' && prev != '\\' {
            n += 1;
        }
        prev = c;
    }
    Some(n)
}

/// Backticks not escaped by an odd run of backslashes.
fn unescaped_backticks(line: &str) -> usize {
    let mut n = 0;
    let mut slashes = 0;
    for c in line.chars() {
        match c {
            '\\' => slashes += 1,
            '`' => {
                if slashes % 2 == 0 {
                    n += 1;
                }
                slashes = 0;
            }
            _ => slashes = 0,
        }
    }
    n
}

/// The summary keeps its shape: every row of the group table has 6 cells, the other tables
/// 2 and 4; no raw HTML (`<`, `>`, or an `&` that is not one of our entities); backticks only
/// in whole code spans (the template's own, and rule names); links only to the CodeBuild console; no line the runner
/// would read as a command.
fn check_summary(md: &str, rows: usize) -> Result<(), String> {
    let mut table: Option<usize> = None;
    let mut group_rows = 0;
    for (i, line) in md.lines().enumerate() {
        let at = |why: String| format!("line {}: {why}\n{line}", i + 1);
        if line.starts_with("| Group |") {
            table = Some(6);
        } else if line.starts_with("| | |") {
            table = Some(2);
        } else if line.starts_with("| Budget |") {
            table = Some(4);
        }
        if line.is_empty() {
            table = None;
        } else if let Some(want) = table {
            match cells(line) {
                Some(n) if n == want => {}
                n => return Err(at(format!("{n:?} cells, want {want}"))),
            }
            if want == 6 && !line.starts_with("| Group |") && !line.starts_with("|---") {
                group_rows += 1;
            }
        }
        if line.contains(['<', '>', '\r']) {
            return Err(at("raw `<`, `>` or CR".into()));
        }
        for (j, _) in line.match_indices('&') {
            let rest = &line[j..];
            if !["&lt;", "&gt;", "&amp;"]
                .iter()
                .any(|e| rest.starts_with(e))
            {
                return Err(at("an `&` that is not an escape".into()));
            }
        }
        // The template's own code spans: the commit, the decision code, `--format json`.
        let label = line.trim_start_matches(['|', '-', ' ', '*']);
        let own_spans = label.starts_with("Commit")
            || label.starts_with("Decision code")
            || line.contains("more groups not shown");
        // Besides those, only whole code spans (rule names, shown as the policy wrote them:
        // the line holds no raw `<`, `>` or stray `&`, so neither can a span).
        let ticks = unescaped_backticks(line);
        let own = if own_spans { 2 } else { 0 };
        if ticks < own || !(ticks - own).is_multiple_of(2) {
            return Err(at(format!("{ticks} unescaped backticks")));
        }
        for (j, _) in line.match_indices("](") {
            // A `]` after an odd run of backslashes is literal text, not the end of a link.
            let slashes = line[..j].chars().rev().take_while(|c| *c == '\\').count();
            let ours = line[j + 2..]
                .starts_with("https://us-east-1.console.aws.amazon.com/codesuite/codebuild/");
            if slashes % 2 == 0 && !ours {
                return Err(at("a link that is not ours".into()));
            }
        }
        if let Some(c) = runner_command(line) {
            return Err(at(format!("a workflow command: {c:?}")));
        }
    }
    let rows = rows.min(render::markdown::MAX_ROWS);
    if group_rows != rows {
        return Err(format!("{group_rows} group rows, want {rows}"));
    }
    Ok(())
}

/// Lines `render::text::render` writes for `d`: 6 of heading, the table, the root failures'
/// details, 2 of budget. Any other line break came from the data.
fn expected_text_lines(d: &Decision) -> usize {
    let roots: Vec<_> = d
        .groups
        .iter()
        .filter(|g| g.code.is_root_failure() || g.code == VerdictCode::Collateral)
        .collect();
    let details: usize = roots
        .iter()
        .map(|g| 1 + g.contexts.len() + usize::from(g.rule.is_some()))
        .sum();
    6 + 1 + d.groups.len() + if roots.is_empty() { 0 } else { 1 + details } + 2
}

fn check_description(d: &Decision) -> Result<(), String> {
    let s = render::status::description(d);
    if s.len() > render::status::MAX_DESCRIPTION {
        return Err(format!("{} bytes: {s:?}", s.len()));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Captures and policies with hostile text
// ---------------------------------------------------------------------------------------

const PROJECT: &str = "acme-web";
const BATCH_ID: &str = "acme-web:00000000-0000-4000-8000-000000000001";
const ARN_PREFIX: &str = "arn:aws:codebuild:us-east-1:111122223333:";
const SHA: &str = "620602e0fc80fa6f7a8d9ccd7582329f7ac526d3";

/// `s` as a YAML double-quoted scalar that survives any text.
fn yaml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

/// Rule names that would be trouble if rendered raw. The policy author is not the attacker,
/// but rule names travel the same way as build text.
const HOSTILE_RULES: (&str, &str) = (
    "::add-mask::rule-one\n::error::x |`<b>&amp;",
    "##[add-mask]rule-two `x` <i>|",
);
/// The same without `##[` or a leading `::` (see the ignored tests).
const NEWLINE_RULES: (&str, &str) = (
    "refuse\n::error::rule |`<b>&amp;",
    "retry\r\n::add-mask::rule `x` <i>|",
);
const PLAIN_RULES: (&str, &str) = ("refuse-marked", "retry-the-rest");

/// A refuse rule for messages marked `MARK-REFUSE`, a retry rule for everything else.
fn hostile_policy((refuse, retry): (&str, &str)) -> String {
    format!(
        "version: 1\nrules:\n  - name: {}\n    action: refuse\n    messages: [\"*MARK-REFUSE*\"]\n  - name: {}\n    statuses: [FAILED, FAULT, TIMED_OUT, STOPPED]\n",
        yaml_str(refuse),
        yaml_str(retry)
    )
}

/// A failed batch: one failed group per text in `texts` (its name, and the code and message
/// of its failed phase's context, are hostile), one group whose status is hostile text, one
/// whose failed phase type is, and one STOPPED because of another. `mark` is appended to every
/// message, to steer the policy.
fn hostile_batch(texts: &[String], mark: &str) -> (Value, Value) {
    let n = texts.len();
    let build_id = |i: usize| format!("{PROJECT}:00000000-0000-4000-8000-{i:012}");
    let summary = |i: usize, status: &str| {
        json!({"arn": format!("{ARN_PREFIX}build/{}", build_id(i)), "buildStatus": status,
               "requestedOn": "2026-11-20T14:03:52.228000+00:00"})
    };
    let mut groups = vec![
        json!({"identifier": "DOWNLOAD_SOURCE", "ignoreFailure": false,
                                 "currentBuildSummary": summary(100, "SUCCEEDED")}),
    ];
    let mut builds = Vec::new();
    let phases = |phase: &str, code: &str, message: &str| {
        json!([
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
            {"phaseType": phase, "phaseStatus": "FAILED",
             "contexts": [{"statusCode": code, "message": format!("{message} {mark}")},
                          {"statusCode": "", "message": ""}]},
            {"phaseType": "COMPLETED"}
        ])
    };
    for (i, text) in texts.iter().enumerate() {
        groups.push(
            json!({"identifier": text, "dependsOn": [], "ignoreFailure": false,
                           "currentBuildSummary": summary(i, "FAILED")}),
        );
        builds.push(
            json!({"id": build_id(i), "arn": format!("{ARN_PREFIX}build/{}", build_id(i)),
                           "buildStatus": "FAILED",
                           "phases": phases("BUILD", &texts[(i + 1) % n], &texts[(i + 2) % n]),
                           "buildBatchArn": format!("{ARN_PREFIX}build-batch/{BATCH_ID}")}),
        );
    }
    // A status CodeBuild does not document, as hostile text: a root failure no rule can allow
    // (issue 8.4), so only where the batch is refused anyway.
    if mark == "MARK-REFUSE" {
        groups.push(
            json!({"identifier": "odd-status", "currentBuildSummary": summary(101, &texts[0])}),
        );
    }
    // A failed phase whose type is hostile text.
    groups.push(json!({"identifier": "odd-phase", "currentBuildSummary": summary(102, "FAILED")}));
    builds.push(
        json!({"id": build_id(102), "arn": format!("{ARN_PREFIX}build/{}", build_id(102)),
                       "buildStatus": "FAILED", "phases": phases(&texts[n / 2], "CODE", "phase")}),
    );
    // STOPPED because the first hostile group failed: collateral, shown with its name.
    groups.push(
        json!({"identifier": format!("{} (stopped)", texts[n - 1]), "dependsOn": [texts[0]],
                       "currentBuildSummary": summary(103, "STOPPED")}),
    );
    let batch = json!({
        "id": BATCH_ID, "arn": format!("{ARN_PREFIX}build-batch/{BATCH_ID}"),
        "projectName": PROJECT, "buildBatchStatus": "FAILED", "complete": true,
        "currentPhase": "FAILED", "sourceVersion": "pr/7", "resolvedSourceVersion": SHA,
        "startTime": "2026-11-20T14:03:11.123000+00:00", "endTime": "2026-11-20T14:08:35.115000+00:00",
        "source": {"type": "GITHUB", "location": "https://github.com/acme/web.git"},
        "phases": [{"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
                   {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED"},
                   {"phaseType": "FAILED"}],
        "buildGroups": groups,
    });
    (batch, json!({"builds": builds}))
}

/// A batch that failed before any group ran, its batch phase's context hostile.
fn hostile_batchspec_failure(code: &str, message: &str) -> Value {
    json!({
        "id": BATCH_ID, "arn": format!("{ARN_PREFIX}build-batch/{BATCH_ID}"),
        "projectName": PROJECT, "buildBatchStatus": "FAILED", "complete": true,
        "resolvedSourceVersion": SHA,
        "phases": [{"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED"},
                   {"phaseType": "DOWNLOAD_BATCHSPEC", "phaseStatus": "FAILED",
                    "contexts": [{"statusCode": code, "message": message}]},
                   {"phaseType": "FAILED"}],
        "buildGroups": [],
    })
}

fn all_hostile() -> Vec<String> {
    let mut v: Vec<String> = HOSTILE.iter().map(|s| s.to_string()).collect();
    v.push(huge());
    v
}

/// `explain` on captures written to a temp dir.
fn explain(batch: &Value, builds: &Value, policy: &str, format: &str) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let b = write("batch.json", json!({"buildBatches": [batch]}).to_string());
    let f = write("builds.json", builds.to_string());
    let p = write("policy.yml", policy.to_string());
    common::run(
        common::gate()
            .arg("explain")
            .arg(b)
            .arg("--builds")
            .arg(f)
            .arg("--policy")
            .arg(p)
            .args(["--format", format]),
    )
}

// ---------------------------------------------------------------------------------------
// explain: text and JSON on stdout
// ---------------------------------------------------------------------------------------

#[test]
fn newline_led_injections_in_build_text_never_start_a_line_of_explain_output() {
    let texts: Vec<String> = newline_led().into_iter().map(String::from).collect();
    for mark in ["MARK-REFUSE", "MARK-RETRY"] {
        let (batch, builds) = hostile_batch(&texts, mark);
        for format in ["text", "json"] {
            let r = explain(&batch, &builds, &hostile_policy(NEWLINE_RULES), format);
            assert_eq!(r.code, 0, "{}", r.stderr);
            let found = commands_in(&r.stdout);
            assert!(found.is_empty(), "{format} {mark}: {found:#?}");
        }
        // The text report has exactly the lines of its template.
        let r = explain(&batch, &builds, &hostile_policy(NEWLINE_RULES), "json");
        let report: Value = serde_json::from_str(&r.stdout).unwrap();
        let text = explain(&batch, &builds, &hostile_policy(NEWLINE_RULES), "text").stdout;
        assert!(!text.contains('\r'));
        let groups = report["groups"].as_array().unwrap();
        let roots: Vec<&Value> = groups
            .iter()
            .filter(|g| g["verdict"] != "none" || g["code"] == "collateral")
            .collect();
        let details: usize = roots
            .iter()
            .map(|g| {
                1 + g["contexts"].as_array().unwrap().len() + usize::from(!g["rule"].is_null())
            })
            .sum();
        assert_eq!(
            text.lines().count(),
            6 + 1 + groups.len() + 1 + details + 2,
            "{text}"
        );
        // And the decision is the policy's, hostile text or not.
        let want = if mark == "MARK-REFUSE" {
            "refuse"
        } else {
            "retry"
        };
        assert_eq!(report["decision"], want, "{}", report["reason"]);
    }
}

#[test]
fn a_group_name_that_is_a_command_does_not_start_a_line_of_text_output() {
    let texts: Vec<String> = HOSTILE
        .iter()
        .filter(|s| s.trim_start_matches(is_ignorable).starts_with("::"))
        .map(|s| s.to_string())
        .collect();
    let (batch, builds) = hostile_batch(&texts, "MARK-REFUSE");
    let r = explain(&batch, &builds, &hostile_policy(PLAIN_RULES), "text");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let found = commands_in(&r.stdout);
    assert!(found.is_empty(), "{found:#?}\n{}", r.stdout);
}

#[test]
fn legacy_command_syntax_in_build_text_is_defused_in_text_and_json_output() {
    let texts: Vec<String> = HOSTILE
        .iter()
        .filter(|s| s.contains("##["))
        .map(|s| s.to_string())
        .collect();
    let (batch, builds) = hostile_batch(&texts, "MARK-REFUSE");
    let mut found = Vec::new();
    for format in ["text", "json"] {
        let r = explain(&batch, &builds, &hostile_policy(PLAIN_RULES), format);
        assert_eq!(r.code, 0, "{}", r.stderr);
        found.extend(
            commands_in(&r.stdout)
                .into_iter()
                .map(|(line, c)| (format, line, c.name)),
        );
    }
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn a_batchspec_failure_with_hostile_context_is_reported_safely() {
    for text in newline_led().into_iter().map(String::from).chain([huge()]) {
        let batch = hostile_batchspec_failure(&text, &format!("{text} MARK-REFUSE"));
        let r = explain(
            &batch,
            &json!({"builds": []}),
            &hostile_policy(NEWLINE_RULES),
            "text",
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stdout.starts_with("REFUSE  "), "{}", r.stdout);
        assert!(commands_in(&r.stdout).is_empty(), "{}", r.stdout);
        assert!(
            r.stdout.len() < 8 * 1024,
            "cut short: {} bytes",
            r.stdout.len()
        );
    }
}

// ---------------------------------------------------------------------------------------
// gate: the job summary, GITHUB_OUTPUT, stderr and the commit status, through the fakes
// ---------------------------------------------------------------------------------------

struct World {
    cb: FakeCodeBuild,
    gh: FakeGitHub,
    dir: tempfile::TempDir,
}

struct Outcome {
    code: i32,
    stdout: String,
    stderr: String,
    output_file: String,
    summary: String,
}

const TOKEN: &str = "ghs_hostiletoken0123456789";

impl World {
    async fn new() -> World {
        World {
            cb: FakeCodeBuild::start().await,
            gh: FakeGitHub::start().await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn workspace(&self) -> &Path {
        self.dir.path()
    }

    fn write_policy(&self, text: &str) {
        std::fs::create_dir_all(self.workspace().join(".github")).unwrap();
        std::fs::write(
            self.workspace().join(".github/codebuild-retry-gate.yml"),
            text,
        )
        .unwrap();
    }

    /// The binary as the runner starts it under Actions (`GITHUB_ACTIONS=true`).
    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = common::gate_in(
            self.workspace(),
            &self.cb.endpoint(),
            &self.gh.url(),
            TOKEN,
            "acme/web",
            args,
        );
        cmd.env("GITHUB_ACTIONS", "true");
        tokio::process::Command::from(cmd)
    }

    /// With a `status` event whose target_url is `target_url`.
    fn event_command(&self, target_url: &str, args: &[&str]) -> tokio::process::Command {
        let event = self.workspace().join("event.json");
        std::fs::write(
            &event,
            json!({"sha": REAL_SHA, "state": "failure", "context": "AWS CodeBuild us-east-1 (acme-web)",
                   "target_url": target_url, "repository": {"full_name": "acme/web"}})
            .to_string(),
        )
        .unwrap();
        let mut cmd = self.command(args);
        cmd.env("GITHUB_EVENT_NAME", "status")
            .env("GITHUB_EVENT_PATH", event);
        cmd
    }

    async fn run(&self, mut cmd: tokio::process::Command) -> Outcome {
        let out = cmd.output().await.expect("the binary runs");
        let read =
            |name: &str| std::fs::read_to_string(self.workspace().join(name)).unwrap_or_default();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            output_file: read("output"),
            summary: read("summary.md"),
        }
    }

    fn load(&self, texts: &[String], mark: &str) {
        let (batch, builds) = hostile_batch(texts, mark);
        self.cb.add_build(builds);
        self.cb.add_batch(batch);
        self.write_policy(&hostile_policy(HOSTILE_RULES));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_gate_keeps_summary_outputs_stderr_and_status_intact_with_hostile_build_text() {
    // Refused (the refuse rule matches) and retried (only the retry rule matches), each with
    // every hostile string as a group name, a context code and a context message.
    let texts = all_hostile();
    let scenarios = [
        ("MARK-REFUSE", "refuse", "failure"),
        ("MARK-RETRY", "retry", "pending"),
    ];
    let runs = scenarios.iter().map(|(mark, decision, state)| {
        let texts = texts.clone();
        async move {
            let w = World::new().await;
            w.load(&texts, mark);
            let r = w.run(w.command(&["--batch-id", BATCH_ID])).await;
            (w, r, *decision, *state)
        }
    });
    for (w, r, decision, state) in futures_util::future::join_all(runs).await {
        assert_eq!(r.code, 0, "{decision}: {}", r.stderr);

        // GITHUB_OUTPUT: exactly the five outputs, one line each, as the runner reads them.
        let outputs =
            runner_outputs(&r.output_file).unwrap_or_else(|e| panic!("{e}\n{}", r.output_file));
        let names: Vec<&str> = outputs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "decision",
                "reason",
                "batch-id",
                "retries-used",
                "retries-remaining"
            ],
            "{}",
            r.output_file
        );
        let outputs: BTreeMap<String, String> = outputs.into_iter().collect();
        assert_eq!(outputs["decision"], decision);
        assert_eq!(outputs["batch-id"], BATCH_ID);
        assert!(
            !outputs["reason"].contains(['\n', '\r']),
            "{:?}",
            outputs["reason"]
        );

        // The job summary.
        // DOWNLOAD_SOURCE, one per text, odd-phase, the stopped one, and odd-status when refused.
        let rows = texts.len() + 3 + usize::from(decision == "refuse");
        check_summary(&r.summary, rows).unwrap_or_else(|e| panic!("{decision}: {e}"));
        assert!(r.summary.len() < 256 * 1024, "{} bytes", r.summary.len());

        // stderr: only the gate's own annotations. (The text report on stdout is the subject
        // of the ignored tests above.)
        let foreign = foreign_commands_in_stderr(&r.stderr);
        assert!(foreign.is_empty(), "{decision}: {foreign:#?}");

        // The commit status: at most 140 (bytes, so characters too), one line.
        let statuses = w.gh.statuses();
        assert_eq!(statuses.len(), 1, "{decision}");
        assert_eq!(statuses[0].state, state);
        let description = statuses[0].description.clone().unwrap_or_default();
        assert!(
            description.len() <= 140,
            "{} bytes: {description:?}",
            description.len()
        );
        assert!(!description.contains(['\n', '\r']), "{description:?}");
        assert_eq!(
            w.cb.count("RetryBuildBatch"),
            usize::from(decision == "retry"),
            "the policy decides, not the text"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_failure_with_a_100_kb_message_gets_a_short_status() {
    let w = World::new().await;
    let text = huge();
    w.cb.add_batch(hostile_batchspec_failure(
        &text,
        &format!("{text} MARK-REFUSE"),
    ));
    w.write_policy(&hostile_policy(HOSTILE_RULES));
    let r = w.run(w.command(&["--batch-id", BATCH_ID])).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = &w.gh.statuses()[0];
    let description = s.description.as_deref().unwrap_or_default();
    assert!(description.len() <= 140, "{description:?}");
    assert_eq!(s.state, "failure");
    check_summary(&r.summary, 1).unwrap();
    assert!(r.summary.len() < 8 * 1024);
}

// ---------------------------------------------------------------------------------------
// Renderings over generated decisions
// ---------------------------------------------------------------------------------------

/// Arbitrary text: the hostile pool, arbitrary Unicode, or either repeated to great length.
fn text() -> impl Strategy<Value = String> + Clone {
    let base = prop_oneof![
        3 => select(&HOSTILE[..]).prop_map(String::from),
        3 => any::<String>(),
        1 => "[|`<>&\\\\*_\\[\\]#~:\n\r\t -]{0,40}",
    ];
    (base, prop_oneof![6 => Just(1usize), 1 => 2usize..5000]).prop_map(|(s, n)| s.repeat(n))
}

const STATUSES: [&str; 7] = [
    "FAILED",
    "FAULT",
    "TIMED_OUT",
    "STOPPED",
    "SUCCEEDED",
    "IN_PROGRESS",
    "",
];

fn status(text: &str, other: &str) -> Status {
    if text.is_empty() {
        Status::Other(other.to_string())
    } else {
        Status::parse(text)
    }
}

#[derive(Debug, Clone)]
struct GroupGen {
    name: String,
    status: &'static str,
    other: String,
    phase: String,
    contexts: Vec<(String, String)>,
    depends_on_first: bool,
}

fn group_gen() -> impl Strategy<Value = GroupGen> {
    (
        text(),
        select(&STATUSES[..]),
        text(),
        prop_oneof![
            select(&["BUILD", "PROVISIONING", "QUEUED"][..]).prop_map(String::from),
            text()
        ],
        prop::collection::vec((text(), text()), 0..3),
        any::<bool>(),
    )
        .prop_map(
            |(name, status, other, phase, contexts, depends_on_first)| GroupGen {
                name,
                status,
                other,
                phase,
                contexts,
                depends_on_first,
            },
        )
}

#[derive(Debug, Clone)]
struct RuleGen {
    name: String,
    refuse: bool,
    selector: u8,
    glob: String,
}

fn rule_gen() -> impl Strategy<Value = RuleGen> {
    (
        text(),
        any::<bool>(),
        0u8..4,
        select(&["*", "*a*", "*\\**", "*:*", "*|*"][..]),
    )
        .prop_map(|(name, refuse, selector, glob)| RuleGen {
            name,
            refuse,
            selector,
            glob: glob.to_string(),
        })
}

/// A policy from generated rules: names are the generated text cut to 98 characters plus the
/// rule's index (unique, never blank).
fn policy_from(rules: &[RuleGen]) -> String {
    let mut s = String::from("version: 1\nbudget: {per-batch: 3, per-commit: 5}\nrules:\n");
    for (i, r) in rules.iter().enumerate() {
        let name: String = r.name.chars().take(98).collect::<String>() + &i.to_string();
        s.push_str(&format!("  - name: {}\n", yaml_str(&name)));
        s.push_str(&format!(
            "    action: {}\n",
            if r.refuse { "refuse" } else { "retry" }
        ));
        s.push_str("    statuses: [FAILED, FAULT, TIMED_OUT, STOPPED]\n");
        match r.selector {
            0 => s.push_str(&format!("    messages: [{}]\n", yaml_str(&r.glob))),
            1 => s.push_str(&format!(
                "    status-codes: [{}]\n",
                yaml_str(&r.glob.to_uppercase())
            )),
            2 => s.push_str("    phases: [BUILD]\n"),
            _ => {}
        }
    }
    s
}

fn facts_from(groups: &[GroupGen], batch_status: &str, batch_phase: &(String, String)) -> Facts {
    let mut facts = Facts::default();
    let first = groups.first().map(|g| g.name.clone());
    for (i, g) in groups.iter().enumerate() {
        let id = format!("{PROJECT}:b{i}");
        facts.batch.groups.push(Group {
            identifier: g.name.clone(),
            depends_on: if g.depends_on_first {
                first.clone().into_iter().collect()
            } else {
                Vec::new()
            },
            ignore_failure: false,
            current: Some(BuildSummary {
                arn: Some(format!("{ARN_PREFIX}build/{id}")),
                status: Some(status(g.status, &g.other)),
                requested_on: None,
            }),
            prior: Vec::new(),
        });
        facts.builds.insert(
            id.clone(),
            Build {
                id,
                arn: None,
                status: Some(status(g.status, &g.other)),
                phases: vec![
                    Phase {
                        phase_type: "SUBMITTED".into(),
                        status: Some(Status::Succeeded),
                        ..Phase::default()
                    },
                    Phase {
                        phase_type: g.phase.clone(),
                        status: Some(Status::Failed),
                        contexts: g
                            .contexts
                            .iter()
                            .map(|(c, m)| Context {
                                status_code: c.clone(),
                                message: m.clone(),
                            })
                            .collect(),
                        ..Phase::default()
                    },
                ],
                ..Build::default()
            },
        );
    }
    facts.batch = Batch {
        id: BATCH_ID.into(),
        arn: Some(format!("{ARN_PREFIX}build-batch/{BATCH_ID}")),
        project: PROJECT.into(),
        status: Some(status(batch_status, &batch_phase.0)),
        complete: true,
        resolved_source_version: Some(SHA.into()),
        phases: vec![Phase {
            phase_type: "DOWNLOAD_BATCHSPEC".into(),
            status: Some(Status::Failed),
            contexts: vec![Context {
                status_code: batch_phase.0.clone(),
                message: batch_phase.1.clone(),
            }],
            ..Phase::default()
        }],
        groups: std::mem::take(&mut facts.batch.groups),
        ..Batch::default()
    };
    facts
}

fn decisions() -> impl Strategy<Value = Decision> {
    (
        prop::collection::vec(group_gen(), 0..6),
        prop::collection::vec(rule_gen(), 1..4),
        prop_oneof![4 => Just("FAILED"), 1 => select(&STATUSES[..])],
        (text(), text()),
    )
        .prop_map(|(groups, rules, batch_status, batch_phase)| {
            let policy = Policy::from_yaml(&policy_from(&rules), "hostile.yml")
                .unwrap_or_else(|e| panic!("a generated policy is refused: {e}"));
            decide(&policy, &facts_from(&groups, batch_status, &batch_phase))
        })
}

proptest! {
    #![proptest_config(config(CASES_DECISIONS))]

    /// The status description fits, the summary keeps its shape, the text report has exactly
    /// its template's lines — for decisions over arbitrary Unicode names, messages, codes,
    /// phase types, unknown statuses and rule names.
    #[test]
    fn renderings_of_hostile_decisions_keep_their_shape(d in decisions()) {
        check_description(&d).map_err(TestCaseError::fail)?;
        check_summary(&render::markdown::render(&d, true), d.groups.len())
            .map_err(TestCaseError::fail)?;
        let text = render::text::render(&d);
        prop_assert!(!text.contains('\r'));
        prop_assert_eq!(text.matches('\n').count(), expected_text_lines(&d), "{}", text);
        let status = render::status::render(&d, None);
        prop_assert!(status.description.len() <= 140);
        let json: Value = serde_json::from_str(&render::json::render(&d, false))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&json["reason"], &json!(d.reason));
    }

    /// The description is a single line of text, whatever it is cut from.
    #[test]
    fn the_status_description_has_no_control_characters(d in decisions()) {
        let s = render::status::description(&d);
        prop_assert!(!s.chars().any(char::is_control), "{:?}", s);
    }

    /// No line of the text report is a workflow command.
    #[test]
    fn no_line_of_the_text_report_is_a_workflow_command(d in decisions()) {
        let text = render::text::render(&d);
        let found = commands_in(&text);
        prop_assert!(found.is_empty(), "{:#?}", found);
    }
}

#[test]
fn a_summary_of_many_groups_of_the_worst_text_stays_far_below_githubs_limit() {
    // Every character escaped to its longest form, in every cell, in more rows than are shown.
    let worst = "&".repeat(10_000);
    let groups: Vec<GroupGen> = (0..render::markdown::MAX_ROWS + 50)
        .map(|i| GroupGen {
            name: format!("{worst}{i}"),
            status: "FAILED",
            other: String::new(),
            phase: worst.clone(),
            contexts: vec![(worst.clone(), worst.clone())],
            depends_on_first: false,
        })
        .collect();
    let rules = [RuleGen {
        name: worst.clone(),
        refuse: true,
        selector: 3,
        glob: String::new(),
    }];
    let policy = Policy::from_yaml(&policy_from(&rules), "p.yml").unwrap();
    let d = decide(
        &policy,
        &facts_from(&groups, "FAILED", &(worst.clone(), worst.clone())),
    );
    let md = render::markdown::render(&d, false);
    check_summary(&md, d.groups.len()).unwrap();
    assert!(md.contains("50 more groups not shown"), "rows are bounded");
    assert!(md.len() < 1024 * 1024, "{} bytes", md.len());
    assert!(render::status::description(&d).len() <= 140);
}

// ---------------------------------------------------------------------------------------
// GITHUB_OUTPUT and workflow commands
// ---------------------------------------------------------------------------------------

const OUTPUT_NAMES: [&str; 5] = [
    "decision",
    "reason",
    "batch-id",
    "retries-used",
    "retries-remaining",
];

fn output_value() -> impl Strategy<Value = String> {
    let delimiter = "ghadelimiter_codebuild_retry_gate";
    prop_oneof![
        2 => text(),
        1 => (text(), 0usize..4, text()).prop_map(move |(a, n, b)| {
            // The delimiter (and its numbered successors) on lines of their own.
            let line = if n == 0 { delimiter.to_string() } else { format!("{delimiter}_{n}") };
            format!("{a}\n{line}\n{b}")
        }),
        1 => Just(format!("x\n{delimiter}\ndecision<<EOF\nretry\nEOF\n")),
        1 => Just("reason=forged\nbatch-id<<X\nevil:1\nX".to_string()),
    ]
}

proptest! {
    #![proptest_config(config(CASES_OUTPUTS))]

    /// Whatever the values, the runner reads back exactly the names written, in order, and
    /// each value whole.
    #[test]
    fn github_output_cannot_be_broken_by_a_value(
        values in prop::collection::vec(output_value(), 5),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let path = dir.path().join("output");
        let outputs: Vec<(&str, String)> = OUTPUT_NAMES.iter().copied().zip(values.iter().cloned()).collect();
        actions::write_outputs(&path, &outputs).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let text = std::fs::read_to_string(&path).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let read = runner_outputs(&text).map_err(TestCaseError::fail)?;
        let want: Vec<(String, String)> = outputs.iter().map(|(n, v)| (n.to_string(), v.clone())).collect();
        prop_assert_eq!(read, want);
    }
}

#[test]
fn github_output_appends_and_picks_a_fresh_delimiter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("output");
    std::fs::write(&path, "earlier=1\n").unwrap();
    let evil =
        "a\nghadelimiter_codebuild_retry_gate\nghadelimiter_codebuild_retry_gate_1\nb".to_string();
    actions::write_outputs(
        &path,
        &[("reason", evil.clone()), ("decision", "retry".into())],
    )
    .unwrap();
    let read = runner_outputs(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        read,
        [
            ("earlier".to_string(), "1".to_string()),
            ("reason".to_string(), evil),
            ("decision".to_string(), "retry".to_string())
        ]
    );
}

#[test]
fn workflow_commands_escape_percent_cr_lf_and_property_separators() {
    assert_eq!(
        actions::command(
            "error",
            &[("file", "a:b,c%d\r\n".into())],
            "50%\r\n::add-mask::x"
        ),
        "::error file=a%3Ab%2Cc%25d%0D%0A::50%25%0D%0A::add-mask::x"
    );
    assert_eq!(actions::command("warning", &[], "%0A"), "::warning::%250A");
    assert_eq!(
        actions::command(
            "notice",
            &[("title", "::".into()), ("line", "1".into())],
            ""
        ),
        "::notice title=%3A%3A,line=1::"
    );
}

fn registered_kind() -> impl Strategy<Value = &'static str> {
    select(&["error", "warning", "notice", "debug"][..])
}

proptest! {
    #![proptest_config(config(CASES_COMMANDS))]

    /// `actions::command` makes one line that the runner parses back into the same command,
    /// properties and message, whatever the message and property values hold.
    #[test]
    fn workflow_commands_round_trip_through_the_runner(
        kind in registered_kind(),
        props in prop::collection::vec((select(&["file", "line", "col", "title", "endLine"][..]), text()), 0..4),
        message in text(),
    ) {
        let line = actions::command(kind, &props, &message);
        prop_assert!(!line.contains(['\n', '\r']), "{:?}", line);
        prop_assert_eq!(runner_lines(&line).len(), 1);
        let parsed = runner_command(&line).ok_or_else(|| TestCaseError::fail(format!("not a command: {line:?}")))?;
        prop_assert!(!parsed.legacy);
        prop_assert_eq!(&parsed.name, kind);
        prop_assert_eq!(&parsed.data, &message);
        // The runner drops empty values and trims the end of the property list.
        let mut want: Vec<(String, String)> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        if let Some(last) = want.last_mut() {
            // Trimmed before unescaping: only literal whitespace goes, not an escaped CR/LF.
            last.1 = last
                .1
                .trim_end_matches(|c: char| c.is_whitespace() && c != '\n' && c != '\r')
                .to_string();
        }
        want.retain(|(_, v)| !v.is_empty());
        prop_assert_eq!(&parsed.properties, &want);
    }
}

// ---------------------------------------------------------------------------------------
// Forged status events
// ---------------------------------------------------------------------------------------

/// The provisioning-fault example: a batch the built-in policy would retry.
const REAL_ID: &str = "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6";
/// The commit REAL_ID built: the events name it (an event for another commit is refused
/// before anything is judged, issue 9.2).
const REAL_SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";
const CONSOLE: &str =
    "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects";

fn load_example(w: &World) {
    let id =
        w.cb.load_example(&common::root().join("examples/batches/provisioning-fault"));
    assert_eq!(id, REAL_ID);
}

/// Runs the gate on each target_url, a few at a time, each against its own fakes.
async fn run_events(urls: Vec<String>, policy: Option<String>) -> Vec<(String, Outcome, World)> {
    futures_util::stream::iter(urls)
        .map(|url| {
            let policy = policy.clone();
            async move {
                let w = World::new().await;
                load_example(&w);
                if let Some(p) = &policy {
                    w.write_policy(p);
                }
                let r = w.run(w.event_command(&url, &[])).await;
                (url, r, w)
            }
        })
        .buffer_unordered(6)
        .collect()
        .await
}

/// Everything the step printed: under Actions the gate reports errors as `::error::` on
/// stdout; the runner reads both streams.
fn printed(r: &Outcome) -> String {
    format!("{}\n{}", r.stdout, r.stderr)
}

fn assert_refused_untouched(url: &str, r: &Outcome, w: &World) {
    assert_eq!(r.code, 2, "{url}\n{}", printed(r));
    assert!(printed(r).contains("error"), "{url}\n{}", printed(r));
    assert!(
        w.cb.calls().is_empty(),
        "{url}: CodeBuild was called: {:?}",
        w.cb.calls()
    );
    assert!(w.gh.calls().is_empty(), "{url}: GitHub was called");
    assert!(
        r.output_file.is_empty() && r.summary.is_empty(),
        "{url}: reports written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_url_on_another_host_is_refused_before_any_call() {
    let path = format!(
        "/codesuite/codebuild/projects/acme-api/batch/{}/",
        REAL_ID.replace(':', "%3A")
    );
    let urls: Vec<String> = [
        format!("https://evil.example.com{path}"),
        format!("https://console.aws.amazon.com.evil.example{path}"),
        format!("https://evilconsole.aws.amazon.com{path}"),
        format!("https://console.aws.amazon.com.{path}"),
        format!("http://us-east-1.console.aws.amazon.com{path}"),
        format!("https://console.aws.amazon.com@evil.example{path}"),
        format!("https://evil.example\\@console.aws.amazon.com{path}"),
        format!("https://evil.example/#https://console.aws.amazon.com{path}"),
        format!("https://evil.example/?u=https://console.aws.amazon.com{path}"),
        format!("https://xn--cnsole-9ua.aws.amazon.com{path}"),
        format!("https://us-east-1.console.aws.amazon.com.cn{path}"),
        format!("https://[::1]{path}"),
        format!("https://127.0.0.1{path}"),
        format!("javascript:alert(1)//console.aws.amazon.com{path}"),
        format!("file://console.aws.amazon.com{path}"),
        format!("data:text/html,https://console.aws.amazon.com{path}"),
        path.clone(),
        String::new(),
    ]
    .into();
    for (url, r, w) in run_events(urls, None).await {
        assert_refused_untouched(&url, &r, &w);
        assert!(
            printed(&r).contains("does not point at the AWS console")
                || printed(&r).contains("is not a URL"),
            "{url}\n{}",
            printed(&r)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_url_with_an_odd_batch_id_is_refused_before_any_call() {
    let uuid = "6ae12c97-2399-429d-b61e-6ba536824dd6";
    let urls: Vec<String> = [
        format!("{CONSOLE}/acme-api/batch/..%2F..%2Fetc%2Fpasswd/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A..%2F{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{uuid}%2F..%2F..%2Fx/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{uuid}%00/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%00%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{uuid}%0A::add-mask::x/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{uuid}\u{200b}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A\u{ff16}ae12c97/"),
        format!("{CONSOLE}/acme-api/batch/\u{ff41}cme-api%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{}/", "a".repeat(65)),
        format!("{CONSOLE}/acme-api/batch/{}%3A{uuid}/", "p".repeat(256)),
        format!("{CONSOLE}/acme-api/batch/acme-api%253A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A{uuid}%3Aextra/"),
        format!("{CONSOLE}/acme-api/batch/-acme%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme api%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/batch/acme-api%3A/"),
        format!("{CONSOLE}/acme-api/batch/arn%3Aaws%3Acodebuild%3Aus-east-1%3A1%3Abuild-batch%2Facme-api%3A{uuid}/"),
        format!("{CONSOLE}/acme-api/?batch=acme-api:{uuid}"),
        format!("{CONSOLE}/acme-api/batch/{}", "%F0%9F".repeat(4000)),
        format!("{CONSOLE}/{}", "x/".repeat(20_000)),
    ]
    .into();
    for (url, r, w) in run_events(urls, None).await {
        assert_refused_untouched(&url.chars().take(200).collect::<String>(), &r, &w);
        assert!(
            printed(&r).len() < 4096,
            "the url is not echoed whole: {} bytes",
            printed(&r).len()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_target_url_carrying_workflow_commands_injects_none() {
    // The refusal quotes the URL; under Actions it is one `::error::` line, whose data the
    // runner does not parse again.
    let urls: Vec<String> = [
        "https://evil.example/##[add-mask]x",
        "https://evil.example/#/##[set-output name=decision]retry",
        "not a url ##[stop-commands]tok",
        "https://evil.example/\n::add-mask::x",
        "https://us-east-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme-api/batch/x\r\n::stop-commands::tok",
    ]
    .map(String::from)
    .into();
    for (url, r, w) in run_events(urls, None).await {
        assert_refused_untouched(&url, &r, &w);
        let foreign = foreign_commands_in_stderr(&printed(&r));
        assert!(foreign.is_empty(), "{url}: {foreign:#?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_of_a_project_no_rule_covers_is_refused_and_never_retried() {
    // The policy covers acme-web only and would retry anything there; the event names a
    // batch of acme-api, by its console page, by a page whose path claims acme-web, and by a
    // member build's page.
    let policy = "version: 1\nbudget: {per-batch: 10, per-commit: 50}\nrules:\n  - name: web-only\n    projects: [\"acme-web\"]\n    statuses: [FAILED, FAULT, TIMED_OUT, STOPPED]\n".to_string();
    let id = REAL_ID.replace(':', "%3A");
    let urls = vec![
        format!("{CONSOLE}/acme-api/batch/{id}/?region=us-east-1"),
        format!("{CONSOLE}/acme-web/batch/{id}/?region=us-east-1"),
        format!(
            "https://console.aws.amazon.com/codebuild/home?region=us-east-1#/batches/{REAL_ID}/view"
        ),
        format!(
            "{CONSOLE}/acme-api/build/acme-api%3A5e5c4176-5df6-4817-b099-2bcf60ec6db2/?region=us-east-1"
        ),
    ];
    for (url, r, w) in run_events(urls, Some(policy)).await {
        assert_eq!(r.code, 0, "{url}\n{}", r.stderr);
        assert!(
            r.stdout.contains("[project-not-covered]"),
            "{url}\n{}",
            r.stdout
        );
        assert_eq!(w.cb.count("RetryBuildBatch"), 0, "{url}");
        assert_eq!(w.cb.retries_performed(REAL_ID), 0, "{url}");
        let outputs: BTreeMap<String, String> = runner_outputs(&r.output_file)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(outputs["decision"], "refuse", "{url}");
        assert_eq!(outputs["batch-id"], REAL_ID, "{url}");
        let statuses = w.gh.statuses();
        assert_eq!(statuses.len(), 1, "{url}");
        assert_eq!(
            (statuses[0].state.as_str(), statuses[0].sha.as_str()),
            ("failure", REAL_SHA)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_odd_batch_id_flag_is_refused_before_any_call() {
    let ids = [
        "acme-api:../x",
        "../acme-api:6ae12c97",
        "acme-api:6ae12c97\n::add-mask::x",
        "arn:aws:codebuild:us-east-1:1:build/acme-api:6ae12c97",
        "arn:aws:s3:::bucket/acme-api:6ae12c97",
        "ａcme-api:6ae12c97",
    ];
    let runs = ids.iter().map(|id| async move {
        let w = World::new().await;
        load_example(&w);
        let r = w.run(w.command(&["--batch-id", id])).await;
        (id, r, w)
    });
    for (id, r, w) in futures_util::future::join_all(runs).await {
        assert_refused_untouched(id, &r, &w);
        let foreign = foreign_commands_in_stderr(&printed(&r));
        assert!(foreign.is_empty(), "{id:?}: {foreign:#?}");
    }
}

// Keep the helpers honest: the runner model recognises what it should.
#[test]
fn the_runner_model_recognises_commands() {
    assert!(runner_command("::add-mask::x").is_some());
    assert!(runner_command("   ::ADD-MASK::x").is_some());
    assert!(runner_command("\u{2003}::error file=a::x").is_some());
    assert!(runner_command("text ##[error]x").is_some_and(|c| c.legacy));
    assert!(runner_command("::nope::x").is_none());
    assert!(runner_command("a ::add-mask::x").is_none());
    assert!(runner_command("\\#\\#\\[error\\]x").is_none());
    assert_eq!(cells("| a \\| b | c |"), Some(2));
    assert_eq!(
        cells("| a \\\\| b |"),
        Some(1),
        "GFM: `\\|` is a literal pipe, always"
    );
    assert_eq!(unescaped_backticks("a \\` b ` c \\\\`"), 2);
    let parsed = runner_outputs("a=1\nb<<D\nx\ny\nD\nc<<E\n\nE\n").unwrap();
    assert_eq!(parsed[1], ("b".to_string(), "x\ny".to_string()));
    assert_eq!(parsed[2], ("c".to_string(), String::new()));
    assert!(runner_outputs("b<<D\nx\n").is_err());
}
