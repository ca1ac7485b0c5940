//! The retry policy: what is retryable, and how often.
//!
//! A policy file is parsed into strict raw structs ([`raw`]), then validated into a
//! [`Policy`] with compiled globs and checked ranges ([`validate`]). Every problem is a
//! [`Diagnostic`] that points into the file.

pub mod lint;
pub mod locate;
pub mod raw;
mod validate;
mod words;

use std::fmt;
use std::path::Path;

use globset::GlobSet;

use crate::facts::Status;
pub use locate::Pos;

/// The built-in default policy, used when the repository has none.
pub const DEFAULT_POLICY_YAML: &str = include_str!("../../policies/default.yml");
/// How the built-in policy is named in reports.
pub const DEFAULT_POLICY_NAME: &str = "built-in default policy";
/// Policy files larger than this are refused before parsing.
pub const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it came from: a file path, or [`DEFAULT_POLICY_NAME`].
    pub source: String,
    /// The commit-status context, a template: `{project}` stands for the batch's project.
    /// Use [`Policy::context_for`].
    pub context: String,
    pub retry_type: RetryType,
    pub budget: Budget,
    /// The outage brake (`outage.failed-batches` and `outage.within-minutes`).
    pub outage: Option<Outage>,
    /// `outage.max-failed-share`: refuse when more than this share of the batch's own build
    /// groups are root failures.
    pub max_failed_share: Option<Share>,
    pub rules: Vec<Rule>,
}

/// The `retryType` the gate sends; serialised as `RetryBuildBatch` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum RetryType {
    #[serde(rename = "RETRY_FAILED_BUILDS")]
    FailedBuilds,
    #[serde(rename = "RETRY_ALL_BUILDS")]
    AllBuilds,
}

impl RetryType {
    /// The value `RetryBuildBatch` takes.
    pub fn api_value(self) -> &'static str {
        match self {
            RetryType::FailedBuilds => "RETRY_FAILED_BUILDS",
            RetryType::AllBuilds => "RETRY_ALL_BUILDS",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_batch: u32,
    pub per_commit: u32,
    pub lookback_days: u32,
    /// Retries of all the project's batches in the 24 h before the gate acts ("now").
    pub per_project_per_day: Option<u32>,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            per_batch: 2,
            per_commit: 3,
            lookback_days: 14,
            per_project_per_day: None,
        }
    }
}

/// The outage brake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub failed_batches: u32,
    pub within_minutes: u32,
}

/// A share strictly between 0 and 1 (validated), e.g. `outage.max-failed-share`.
#[derive(Debug, Clone, Copy, PartialOrd)]
pub struct Share(f64);

impl Share {
    /// `Some` for a finite value with 0 < value < 1.
    pub fn new(value: f64) -> Option<Share> {
        (value.is_finite() && value > 0.0 && value < 1.0).then_some(Share(value))
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether `part` of `whole` is more than this share (`false` for an empty whole). Compared
    /// as `part / whole` so that a share of exactly this value (3 of 10 against 0.3) is never
    /// "more" by a rounding error.
    pub fn exceeded_by(self, part: usize, whole: usize) -> bool {
        whole > 0 && part as f64 / whole as f64 > self.0
    }
}

// A validated share is never NaN, so equality is total.
impl PartialEq for Share {
    fn eq(&self, other: &Share) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}
impl Eq for Share {}

impl serde::Serialize for Share {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Retry,
    Refuse,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Retry => "retry",
            Action::Refuse => "refuse",
        }
    }
}

/// A list of globs, compiled, with the patterns kept for display.
#[derive(Debug, Clone)]
pub struct Globs {
    pub patterns: Vec<String>,
    set: GlobSet,
}

impl Globs {
    pub fn is_match(&self, text: &str) -> bool {
        self.set.is_match(text)
    }
}

/// One rule. Selectors that are `None` match anything.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    /// Line of the rule in its file (1-based).
    pub line: usize,
    pub action: Action,
    pub projects: Option<Globs>,
    pub source_versions: Option<Globs>,
    /// GitHub's branches of the commit (`branches`).
    pub branches: Option<Globs>,
    /// Base branches of open pull requests whose head is the commit (`pull-request-bases`).
    pub pull_request_bases: Option<Globs>,
    pub groups: Option<Globs>,
    pub statuses: Vec<Status>,
    pub phases: Option<Vec<String>>,
    pub status_codes: Option<Globs>,
    pub messages: Option<Globs>,
    pub max_retries: Option<u32>,
    /// A condition on the failed build's log (an expensive fact: see [`crate::decide::needs`]).
    pub log: Option<LogCondition>,
    /// A condition on the failed build's test reports (an expensive fact).
    pub tests: Option<TestsCondition>,
}

impl Rule {
    /// Whether the rule selects by GitHub's facts about the commit (`branches`,
    /// `pull-request-bases`), which cost a read.
    pub fn uses_github(&self) -> bool {
        self.branches.is_some() || self.pull_request_bases.is_some()
    }

    /// Whether this rule's `projects` covers `project`.
    pub fn covers_project(&self, project: &str) -> bool {
        self.projects.as_ref().is_none_or(|g| g.is_match(project))
    }

    /// Whether the rule has a condition that needs a fact that costs a read (a log, a test
    /// report, GitHub's branches or pull requests of the commit): its other selectors
    /// matching is not enough to decide.
    pub fn is_conditional(&self) -> bool {
        self.log.is_some() || self.tests.is_some() || self.uses_github()
    }
}

/// The most a regex may compile to (bytes); larger patterns are refused by `validate`.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A list of regexes (Rust `regex` syntax), compiled with [`REGEX_SIZE_LIMIT`], with the
/// patterns kept for display.
#[derive(Debug, Clone)]
pub struct Regexes {
    pub patterns: Vec<String>,
    set: regex::RegexSet,
}

impl Regexes {
    /// Whether some pattern matches somewhere in `line`.
    pub fn is_match(&self, line: &str) -> bool {
        self.set.is_match(line)
    }

    /// The first pattern (in the policy's order) that matches `line`.
    pub fn first_match(&self, line: &str) -> Option<&str> {
        self.set
            .matches(line)
            .iter()
            .next()
            .map(|i| self.patterns[i].as_str())
    }
}

/// `log:` of a rule.
#[derive(Debug, Clone)]
pub struct LogCondition {
    /// Some line of the tail matches one of these.
    pub matches: Regexes,
    /// No line of the tail matches any of these.
    pub not_matches: Option<Regexes>,
    /// How much of the log's end is read, in KiB (1–4096, default 256).
    pub tail_kib: u32,
}

impl LogCondition {
    /// The tail's size in bytes.
    pub fn tail_bytes(&self) -> usize {
        self.tail_kib as usize * 1024
    }
}

/// `tests:` of a rule. Judged by the test-report side (issue 17, tests).
#[derive(Debug, Clone)]
pub struct TestsCondition {
    /// Every failed or errored test matches one of these (over `PREFIX::NAME` or `NAME`).
    pub failed: Option<Globs>,
    /// Or every failed test is known flaky within this many days.
    pub known_flaky_days: Option<u32>,
    /// And at most this many tests failed.
    pub max_failed: Option<u32>,
}

/// Severity-free: every diagnostic is an error (the gate fails closed on any of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub pos: Pos,
    /// Stable kebab-case code, documented in docs/policy.md.
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render("error"))
    }
}

impl Diagnostic {
    /// `FILE:LINE:COLUMN: SEVERITY[code]: message` and its help; `FILE: …` when the problem
    /// has no place in the file (it could not be read).
    pub fn render(&self, severity: &str) -> String {
        // Keys and values in messages come from the file: shown, never obeyed.
        let clean = |t: &str| crate::text::clean(t, 500);
        let mut out = if self.pos.is_known() {
            format!(
                "{}:{}:{}: {severity}[{}]: {}",
                clean(&self.file),
                self.pos.line,
                self.pos.column,
                self.code,
                clean(&self.message)
            )
        } else {
            format!(
                "{}: {severity}[{}]: {}",
                clean(&self.file),
                self.code,
                clean(&self.message)
            )
        };
        if let Some(help) = &self.help {
            out.push_str(&format!("\n  help: {}", clean(help)));
        }
        out
    }
}

/// A policy that could not be loaded: one or more diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    pub diagnostics: Vec<Diagnostic>,
    /// The `context` the broken file names, when that much can be read (see
    /// [`readable_context`]): the error status goes under it.
    pub context: Option<String>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl PolicyError {
    /// One problem, at `pos` of `file`.
    pub(crate) fn single(file: &str, pos: Pos, code: &'static str, message: String) -> PolicyError {
        PolicyError::with_help(file, pos, code, message, None)
    }

    /// One problem, at `pos` of `file`, with what to do about it.
    pub(crate) fn with_help(
        file: &str,
        pos: Pos,
        code: &'static str,
        message: String,
        help: Option<String>,
    ) -> PolicyError {
        PolicyError::all(vec![Diagnostic {
            file: file.to_string(),
            pos,
            code,
            message,
            help,
        }])
    }

    /// Every problem found, in order.
    pub(crate) fn all(diagnostics: Vec<Diagnostic>) -> PolicyError {
        PolicyError {
            diagnostics,
            context: None,
        }
    }
}

/// The commit-status context by default: one status per CodeBuild project, like
/// CodeBuild's own `AWS CodeBuild BuildBatch REGION (PROJECT)`.
pub const DEFAULT_CONTEXT: &str = "codebuild/retry-gate ({project})";
/// The placeholder of a context template.
pub const PROJECT_PLACEHOLDER: &str = "{project}";
/// The context before it had `{project}` (and of a policy that sets a fixed one like it).
pub const LEGACY_CONTEXT: &str = "codebuild/retry-gate";

impl Policy {
    /// The commit-status context for a batch of `project`.
    pub fn context_for(&self, project: &str) -> String {
        self.context.replace(PROJECT_PLACEHOLDER, project)
    }

    /// Whether a status with this context was posted by a gate: this policy's context for
    /// any project, or the default context in either form (with `(PROJECT)` or without).
    pub fn is_own_context(&self, context: &str) -> bool {
        template_matches(&self.context, context)
            || template_matches(DEFAULT_CONTEXT, context)
            || context == LEGACY_CONTEXT
    }

    /// The built-in default policy.
    pub fn builtin() -> Policy {
        Policy::from_yaml(DEFAULT_POLICY_YAML, DEFAULT_POLICY_NAME)
            .expect("the built-in policy is validated by the test suite")
    }

    /// Parses and validates policy text; `file` names it in diagnostics.
    pub fn from_yaml(text: &str, file: &str) -> Result<Policy, PolicyError> {
        // A UTF-8 byte-order mark is allowed by YAML and written by some editors.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        validate::parse(text, file).map_err(|mut e| {
            e.context = readable_context(text);
            e
        })
    }

    /// Like [`Policy::from_bytes`], with the policy's warnings (rules that may never match,
    /// settings with a surprising consequence): `validate` shows them.
    pub fn check_bytes(bytes: &[u8], file: &str) -> Result<(Policy, Vec<Diagnostic>), PolicyError> {
        let text = utf8(bytes, file)?;
        validate::parse_with_warnings(text.strip_prefix('\u{feff}').unwrap_or(text), file)
    }

    /// Reads a policy file for [`Policy::check_bytes`].
    pub fn read_file(path: &Path) -> Result<Vec<u8>, PolicyError> {
        read_bounded(path).map_err(|message| {
            PolicyError::single(
                &path.display().to_string(),
                Pos::default(),
                "unreadable-file",
                message,
            )
        })
    }

    /// Reads and validates a policy file (at most [`MAX_POLICY_BYTES`]).
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let file = path.display().to_string();
        // A file that cannot be read has no line to point at.
        let bytes = read_bounded(path).map_err(|message| {
            PolicyError::single(&file, Pos::default(), "unreadable-file", message)
        })?;
        Policy::from_bytes(&bytes, &file)
    }

    /// Validates policy bytes (e.g. from the GitHub contents API); `file` names them.
    pub fn from_bytes(bytes: &[u8], file: &str) -> Result<Policy, PolicyError> {
        Policy::from_yaml(utf8(bytes, file)?, file)
    }
}

/// The `context` of a policy that does not validate, read without the YAML parser (the file
/// may be hostile): a top-level `context:` line with a plain or quoted one-line value that a
/// valid policy would accept (not empty, at most 255 characters, no control character).
/// `None` when that much cannot be read.
pub fn readable_context(text: &str) -> Option<String> {
    let line = text.lines().find(|l| l.starts_with("context:"))?;
    let value = line["context:".len()..].trim();
    let value = match value.chars().next()? {
        q @ ('"' | '\'') => {
            let inner = &value[1..];
            let end = inner.find(q)?;
            let rest = inner[end + 1..].trim();
            if !(rest.is_empty() || rest.starts_with('#')) {
                return None;
            }
            &inner[..end]
        }
        _ => value.split(" #").next()?.trim(),
    };
    let ok = !value.trim().is_empty()
        && value.chars().count() <= 255
        && !value.chars().any(char::is_control)
        && !value.contains('\\');
    ok.then(|| value.to_string())
}

/// Policy bytes as text: at most [`MAX_POLICY_BYTES`], valid UTF-8.
fn utf8<'a>(bytes: &'a [u8], file: &str) -> Result<&'a str, PolicyError> {
    if bytes.len() as u64 > MAX_POLICY_BYTES {
        return Err(PolicyError::single(
            file,
            Pos { line: 1, column: 1 },
            "file-too-large",
            format!(
                "the policy is larger than 1 MiB ({MAX_POLICY_BYTES} bytes); it is refused unread"
            ),
        ));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let column = valid.len() - valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
        PolicyError::single(
            file,
            Pos { line, column },
            "not-utf8",
            format!("the policy is not valid UTF-8 (byte {})", e.valid_up_to()),
        )
    })
}

/// Reads a file, refusing ones over [`MAX_POLICY_BYTES`] without reading them whole.
fn read_bounded(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read the policy: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_POLICY_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read the policy: {e}"))?;
    Ok(bytes)
}

/// Whether `text` is `template` with each `{project}` replaced by some non-empty text.
fn template_matches(template: &str, text: &str) -> bool {
    let mut parts = template.split(PROJECT_PLACEHOLDER);
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    if parts.is_empty() {
        return rest.is_empty();
    }
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let found = if last {
            rest.strip_suffix(part).map(|head| (head, ""))
        } else if part.is_empty() {
            None
        } else {
            rest.find(part)
                .map(|at| (&rest[..at], &rest[at + part.len()..]))
        };
        match found {
            Some((project, after)) if !project.is_empty() => rest = after,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod context_tests {
    use super::*;

    #[test]
    fn the_context_of_a_broken_policy_when_it_can_be_read() {
        let broken = |context: &str| format!("version: 1\n{context}\nbudgets: 3\nrules: []\n");
        let e =
            Policy::from_yaml(&broken("context: \"ci/gate ({project})\""), "p.yml").unwrap_err();
        assert_eq!(e.context.as_deref(), Some("ci/gate ({project})"));
        for (line, want) in [
            ("context: ci/gate # comment", Some("ci/gate")),
            ("context: 'a b'", Some("a b")),
            ("context: \"\"", None),
            ("context: \"unclosed", None),
            ("  context: nested", None),
            ("context: \"a\" trailing", None),
        ] {
            assert_eq!(readable_context(&broken(line)).as_deref(), want, "{line}");
        }
    }

    #[test]
    fn own_contexts_in_either_form() {
        let policy = Policy::builtin();
        assert_eq!(
            policy.context_for("acme-web"),
            "codebuild/retry-gate (acme-web)"
        );
        assert!(policy.is_own_context("codebuild/retry-gate (acme-web)"));
        assert!(policy.is_own_context("codebuild/retry-gate"));
        assert!(!policy.is_own_context("codebuild/retry-gate ()"));
        assert!(!policy.is_own_context("AWS CodeBuild BuildBatch us-east-1 (acme-web)"));
        assert!(!policy.is_own_context("codebuild/retry-gate (a) extra"));

        let mut fixed = Policy::builtin();
        fixed.context = "ci/retry".into();
        assert_eq!(fixed.context_for("x"), "ci/retry");
        assert!(fixed.is_own_context("ci/retry"));
        assert!(fixed.is_own_context("codebuild/retry-gate (x)"));
        assert!(!fixed.is_own_context("ci/retry (x)"));

        let mut custom = Policy::builtin();
        custom.context = "gate/{project}/retry".into();
        assert!(custom.is_own_context("gate/api/retry"));
        assert!(!custom.is_own_context("gate//retry"));
    }
}

#[cfg(test)]
mod share_tests {
    use super::Share;

    #[test]
    fn a_share_is_strictly_between_0_and_1() {
        for bad in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
            assert!(Share::new(bad).is_none(), "{bad}");
        }
        assert_eq!(Share::new(0.5).map(Share::get), Some(0.5));
        assert_eq!(Share::new(0.5), Share::new(0.5));
        assert_ne!(Share::new(0.5), Share::new(0.25));
        assert_eq!(
            serde_json::to_string(&Share::new(0.75).unwrap()).unwrap(),
            "0.75"
        );
    }

    #[test]
    fn exceeded_means_strictly_more_and_never_of_nothing() {
        let half = Share::new(0.5).unwrap();
        assert!(!half.exceeded_by(2, 4));
        assert!(half.exceeded_by(3, 4));
        assert!(!half.exceeded_by(1, 4));
        // Of no groups at all nothing is "more than half" (not even by a division by zero).
        assert!(!half.exceeded_by(0, 0));
        assert!(!half.exceeded_by(1, 0));
        // Compared as a quotient: 0.29 × 100 is 28.999…, 29 / 100 is 0.29.
        let s = Share::new(0.29).unwrap();
        assert!(!s.exceeded_by(29, 100));
        assert!(s.exceeded_by(30, 100));
    }
}
