//! Raw policy → validated [`Policy`], collecting every problem with its position.

use globset::{GlobBuilder, GlobSetBuilder};

use super::locate::{Locations, Pos};
use super::raw::{RawLog, RawOutage, RawPolicy, RawRule, RawTests};
use super::{
    Action, Budget, Diagnostic, Globs, LogCondition, Outage, Policy, PolicyError, REGEX_SIZE_LIMIT,
    Regexes, RetryType, Rule, Share, TestsCondition,
};
use crate::facts::Status;

/// Statuses a rule may name (IN_PROGRESS and SUCCEEDED are never failures).
pub const RULE_STATUSES: [&str; 4] = ["FAILED", "FAULT", "TIMED_OUT", "STOPPED"];
/// Build phase types and batch phase types a rule may name.
pub const RULE_PHASES: [&str; 14] = [
    "SUBMITTED",
    "QUEUED",
    "PROVISIONING",
    "DOWNLOAD_SOURCE",
    "INSTALL",
    "PRE_BUILD",
    "BUILD",
    "POST_BUILD",
    "UPLOAD_ARTIFACTS",
    "FINALIZING",
    "COMPLETED",
    "DOWNLOAD_BATCHSPEC",
    "IN_PROGRESS",
    "COMBINE_ARTIFACTS",
];
pub const ACTIONS: [&str; 2] = ["retry", "refuse"];
pub const RETRY_TYPES: [&str; 2] = ["failed-builds", "all-builds"];

pub const PER_BATCH: (u32, u32) = (1, 10);
pub const PER_COMMIT: (u32, u32) = (1, 50);
pub const LOOKBACK_DAYS: (u32, u32) = (1, 90);
pub const MAX_RETRIES: (u32, u32) = (1, 10);
pub const PER_PROJECT_PER_DAY: (u32, u32) = (1, 1000);
pub const OUTAGE_FAILED_BATCHES: (u32, u32) = (1, 1000);
pub const OUTAGE_WITHIN_MINUTES: (u32, u32) = (1, 1440);
pub const TAIL_KIB: (u32, u32) = (1, 4096);
pub const DEFAULT_TAIL_KIB: u32 = 256;
pub const KNOWN_FLAKY_DAYS: (u32, u32) = (1, 90);
pub const MAX_FAILED: (u32, u32) = (1, 10000);

struct Checker<'a> {
    file: &'a str,
    /// The policy's text, to place a regex error on its character.
    text: &'a str,
    at: Locations,
    problems: Vec<Diagnostic>,
}

pub(super) fn parse(text: &str, file: &str) -> Result<Policy, PolicyError> {
    parse_located(text, file).map(|(policy, _)| policy)
}

/// The policy and its warnings ([`super::lint`]).
pub(super) fn parse_with_warnings(
    text: &str,
    file: &str,
) -> Result<(Policy, Vec<Diagnostic>), PolicyError> {
    let (policy, at) = parse_located(text, file)?;
    let warnings = super::lint::warnings(&policy, &at, file);
    Ok((policy, warnings))
}

/// The policy and where everything stands in its file.
fn parse_located(text: &str, file: &str) -> Result<(Policy, Locations), PolicyError> {
    // 1. Positions of everything, bounded first: depth and the size with aliases expanded
    //    are checked here, before any loader could expand an alias bomb.
    let at = match Locations::of(text) {
        Ok(at) => at,
        Err((pos, message)) => {
            let bounded = message.contains("too deep")
                || message.contains("the limit for a policy")
                || message.contains("recursion limit");
            if bounded {
                return Err(PolicyError::single(file, pos, "too-complex", message));
            }
            // A plain syntax error: libyaml words it best (the document is bounded, so it is
            // safe to hand over).
            return Err(match yaml_serde::from_str::<yaml_serde::Value>(text) {
                Err(e) => serde_error(file, text, &e, "yaml-syntax"),
                Ok(_) => {
                    let help = super::words::syntax_hint(text, pos, &message);
                    PolicyError::with_help(file, pos, "yaml-syntax", message, help)
                }
            });
        }
    };
    // 2. Syntax, duplicate keys: libyaml via yaml_serde, the parser of record.
    let document = match yaml_serde::from_str::<yaml_serde::Value>(text) {
        Ok(document) => document,
        Err(e) => {
            let mut error = serde_error(file, text, &e, "yaml-syntax");
            // libyaml places a duplicate key at its mapping; the walk found the key.
            if error.diagnostics[0].code == "duplicate-key"
                && let Some(pos) = at.first_duplicate_key()
            {
                error.diagnostics[0].pos = pos;
            }
            return Err(error);
        }
    };
    // An empty file, a list, a single value: said in words, not as a missing key.
    if let Some((code, message, help)) = super::words::not_a_mapping(&document) {
        return Err(PolicyError::with_help(
            file,
            at.value(""),
            code,
            message,
            Some(help),
        ));
    }
    let mut check = Checker {
        file,
        text,
        at,
        problems: Vec::new(),
    };
    // 3. Unknown keys, all of them, with suggestions.
    check.unknown_keys();
    if !check.problems.is_empty() {
        return Err(PolicyError::all(check.problems));
    }
    // 4. Shapes and types.
    let raw: RawPolicy =
        yaml_serde::from_str(text).map_err(|e| serde_error(file, text, &e, "wrong-type"))?;
    // 5. Values, then rules that can never match.
    let policy = check.policy(raw, file);
    let never = super::lint::errors(&policy, &check.at, file);
    check.problems.extend(never);
    if check.problems.is_empty() {
        Ok((policy, check.at))
    } else {
        Err(PolicyError::all(check.problems))
    }
}

/// A serde or libyaml error in plain words (no Rust type names), with a hint for the common
/// YAML mistakes; an unclosed bracket is pointed at where it opened.
fn serde_error(file: &str, text: &str, err: &yaml_serde::Error, code: &'static str) -> PolicyError {
    let pos = err.location().map_or(Pos { line: 1, column: 1 }, |l| Pos {
        line: l.line(),
        column: l.column(),
    });
    let raw = err.to_string();
    if let Some((opened, message, help)) = super::words::unclosed(&raw) {
        let message = format!(
            "{message} (the parser reached line {} column {} without finding its end)",
            pos.line, pos.column
        );
        return PolicyError::with_help(file, opened, "yaml-syntax", message, Some(help));
    }
    // yaml_serde puts " at line L column C" into the text; the position is shown in front.
    let message = strip_position(&raw);
    let code = if message.contains("missing field") {
        "missing-key"
    } else if message.contains("duplicate") {
        "duplicate-key"
    } else if message.contains("recursion limit") || message.contains("repetition limit") {
        "too-complex"
    } else {
        code
    };
    let plain = match code {
        "missing-key" => super::words::missing_key(&message),
        _ => super::words::wrong_type(&message),
    };
    let (message, help) = match plain {
        Some((message, help)) => (message, help),
        None => {
            let help = super::words::syntax_hint(text, pos, &message);
            (message, help)
        }
    };
    PolicyError::with_help(file, pos, code, message, help)
}

/// The keys each kind of mapping allows, taken from the JSON Schema of the raw types so the
/// two can never disagree.
fn allowed_keys() -> [(Place, Vec<String>); 6] {
    let schema = serde_json::to_value(schemars::schema_for!(RawPolicy)).unwrap_or_default();
    let keys = |v: &serde_json::Value| -> Vec<String> {
        v.get("properties")
            .and_then(|p| p.as_object())
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let defs = schema.get("$defs").cloned().unwrap_or_default();
    [
        (Place::Top, keys(&schema)),
        (Place::Budget, keys(&defs["Budget"])),
        (Place::Rule, keys(&defs["Rule"])),
        (Place::Outage, keys(&defs["Outage"])),
        (Place::Log, keys(&defs["Log"])),
        (Place::Tests, keys(&defs["Tests"])),
    ]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Top,
    Budget,
    Outage,
    Rule,
    Log,
    Tests,
}

impl Place {
    fn of(path: &str) -> Option<Place> {
        if path.is_empty() {
            Some(Place::Top)
        } else if path == "budget" {
            Some(Place::Budget)
        } else if path == "outage" {
            Some(Place::Outage)
        } else if let Some(rest) = path.strip_prefix("rules[") {
            let (index, rest) = rest.split_once(']')?;
            if !index.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            match rest {
                "" => Some(Place::Rule),
                ".log" => Some(Place::Log),
                ".tests" => Some(Place::Tests),
                _ => None,
            }
        } else {
            None
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Place::Top => "at the top level",
            Place::Budget => "in `budget`",
            Place::Outage => "in `outage`",
            Place::Rule => "in a rule",
            Place::Log => "in a rule's `log`",
            Place::Tests => "in a rule's `tests`",
        }
    }
}

impl Checker<'_> {
    fn error(&mut self, path: &str, code: &'static str, message: String, help: Option<String>) {
        let pos = self.at.value(path);
        self.error_at(pos, code, message, help);
    }

    fn error_at(&mut self, pos: Pos, code: &'static str, message: String, help: Option<String>) {
        self.problems.push(Diagnostic {
            file: self.file.to_string(),
            pos,
            code,
            message,
            help,
        });
    }

    fn unknown_keys(&mut self) {
        let allowed = allowed_keys();
        let mut found = Vec::new();
        for (path, keys) in self.at.mappings() {
            let Some(place) = Place::of(path) else {
                continue;
            };
            let Some((_, names)) = allowed.iter().find(|(p, _)| *p == place) else {
                continue;
            };
            for (key, pos) in keys {
                if !names.iter().any(|n| n == key) {
                    let candidates: Vec<&str> = names.iter().map(String::as_str).collect();
                    let help = suggest(key, &candidates)
                        .map(|s| format!("did you mean `{s}`?"))
                        .or_else(|| Some(format!("allowed here: {}", candidates.join(", "))));
                    found.push((
                        *pos,
                        format!("unknown key `{key}` {}", place.describe()),
                        help,
                    ));
                }
            }
        }
        for (pos, message, help) in found {
            self.error_at(pos, "unknown-key", message, help);
        }
    }

    fn policy(&mut self, raw: RawPolicy, file: &str) -> Policy {
        if raw.version != 1 {
            self.error(
                "version",
                "unsupported-version",
                format!(
                    "unsupported policy version {}; this gate reads version 1",
                    raw.version
                ),
                Some("set `version: 1`".into()),
            );
        }
        let context = raw
            .context
            .unwrap_or_else(|| super::DEFAULT_CONTEXT.to_string());
        if context.trim().is_empty() {
            self.error(
                "context",
                "out-of-range",
                "`context` must not be empty or only spaces".into(),
                None,
            );
        } else if context.chars().count() > 255 {
            self.error(
                "context",
                "out-of-range",
                "`context` must be at most 255 characters".into(),
                None,
            );
        }
        let retry_type = match raw.retry_type.as_deref() {
            None | Some("failed-builds") => RetryType::FailedBuilds,
            Some("all-builds") => RetryType::AllBuilds,
            Some(other) => {
                self.unknown_value("retry-type", "retry-type", other, &RETRY_TYPES);
                RetryType::FailedBuilds
            }
        };
        let defaults = Budget::default();
        let budget = match raw.budget {
            None => defaults,
            Some(b) => Budget {
                per_batch: self.number(
                    "budget.per-batch",
                    b.per_batch,
                    defaults.per_batch,
                    PER_BATCH,
                ),
                per_commit: self.number(
                    "budget.per-commit",
                    b.per_commit,
                    defaults.per_commit,
                    PER_COMMIT,
                ),
                lookback_days: self.number(
                    "budget.lookback-days",
                    b.lookback_days,
                    defaults.lookback_days,
                    LOOKBACK_DAYS,
                ),
                per_project_per_day: b.per_project_per_day.map(|n| {
                    self.number(
                        "budget.per-project-per-day",
                        Some(n),
                        n,
                        PER_PROJECT_PER_DAY,
                    )
                }),
            },
        };
        let (outage, max_failed_share) = match raw.outage {
            None => (None, None),
            Some(o) => self.outage(o),
        };
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
        let mut first_lines: std::collections::HashMap<String, usize> =
            std::collections::HashMap::new();
        for (i, rule) in raw.rules.into_iter().enumerate() {
            let path = format!("rules[{i}]");
            if let Some(&first_line) = first_lines.get(&rule.name) {
                self.error(
                    &format!("{path}.name"),
                    "duplicate-rule",
                    format!("duplicate rule name `{}`", rule.name),
                    Some(format!("the first rule with this name is at line {first_line}; rule names must be unique")),
                );
            }
            let checked = self.rule(rule, &path);
            first_lines
                .entry(checked.name.clone())
                .or_insert(checked.line);
            rules.push(checked);
        }
        Policy {
            source: file.to_string(),
            context,
            retry_type,
            budget,
            outage,
            max_failed_share,
            rules,
        }
    }

    /// `outage`: the brake (`failed-batches` with `within-minutes`, both or neither) and
    /// `max-failed-share` (alone); at least one of them.
    fn outage(&mut self, o: RawOutage) -> (Option<Outage>, Option<Share>) {
        let brake = match (o.failed_batches, o.within_minutes) {
            (Some(failed), Some(minutes)) => Some(Outage {
                failed_batches: self.number(
                    "outage.failed-batches",
                    Some(failed),
                    failed,
                    OUTAGE_FAILED_BATCHES,
                ),
                within_minutes: self.number(
                    "outage.within-minutes",
                    Some(minutes),
                    minutes,
                    OUTAGE_WITHIN_MINUTES,
                ),
            }),
            (Some(_), None) => {
                self.missing_beside("failed-batches", "within-minutes");
                None
            }
            (None, Some(_)) => {
                self.missing_beside("within-minutes", "failed-batches");
                None
            }
            (None, None) => None,
        };
        let share = o.max_failed_share.and_then(|value| {
            let share = Share::new(value);
            if share.is_none() {
                let why = if value >= 1.0 {
                    " (1 or more could never be exceeded; remove the key to turn the brake off)"
                } else if value <= 0.0 {
                    " (0 would refuse every failure; to refuse every failure, use a rule with `action: refuse`)"
                } else {
                    ""
                };
                self.error(
                    "outage.max-failed-share",
                    "out-of-range",
                    format!(
                        "`max-failed-share` is {value}; it must be more than 0 and less than 1{why}"
                    ),
                    Some("a share of the batch's build groups, e.g. 0.5 for half".into()),
                );
            }
            share
        });
        if o.failed_batches.is_none() && o.within_minutes.is_none() && o.max_failed_share.is_none()
        {
            self.error(
                "outage",
                "missing-key",
                "`outage` sets nothing: neither the brake (`failed-batches` with `within-minutes`) nor `max-failed-share`".into(),
                Some("set the keys you want, or remove `outage`".into()),
            );
        }
        (brake, share)
    }

    /// `outage` has `present` but not `missing`, which go together; said at `present`'s key.
    fn missing_beside(&mut self, present: &str, missing: &str) {
        let pos = self
            .at
            .mappings()
            .find(|(path, _)| *path == "outage")
            .and_then(|(_, keys)| keys.iter().find(|(k, _)| k == present))
            .map_or_else(|| self.at.value("outage"), |(_, pos)| *pos);
        self.error_at(
            pos,
            "missing-key",
            format!(
                "missing key `{missing}` in `outage`: the outage brake counts `failed-batches` in a window of `within-minutes`, so the two go together"
            ),
            Some(format!(
                "add `{missing}`, or remove `{present}` (`max-failed-share` stands alone)"
            )),
        );
    }

    fn rule(&mut self, raw: RawRule, path: &str) -> Rule {
        if raw.name.trim().is_empty() {
            self.error(
                &format!("{path}.name"),
                "out-of-range",
                "a rule's `name` must not be empty or only spaces".into(),
                None,
            );
        } else if raw.name.chars().count() > 100 {
            self.error(
                &format!("{path}.name"),
                "out-of-range",
                "a rule's `name` must be at most 100 characters".into(),
                None,
            );
        }
        let action = match raw.action.as_deref() {
            None | Some("retry") => Action::Retry,
            Some("refuse") => Action::Refuse,
            Some(other) => {
                self.unknown_value(&format!("{path}.action"), "action", other, &ACTIONS);
                Action::Refuse
            }
        };
        let statuses = match raw.statuses {
            None => vec![Status::Failed, Status::Fault, Status::TimedOut],
            Some(list) => {
                let key = format!("{path}.statuses");
                self.non_empty(&key, &list);
                list.iter()
                    .enumerate()
                    .filter_map(|(j, s)| {
                        if RULE_STATUSES.contains(&s.as_str()) {
                            Some(Status::parse(s))
                        } else {
                            self.unknown_value(&format!("{key}[{j}]"), "status", s, &RULE_STATUSES);
                            None
                        }
                    })
                    .collect()
            }
        };
        let phases = raw.phases.inspect(|list| {
            let key = format!("{path}.phases");
            self.non_empty(&key, list);
            for (j, p) in list.iter().enumerate() {
                if !RULE_PHASES.contains(&p.as_str()) {
                    self.unknown_value(&format!("{key}[{j}]"), "phase", p, &RULE_PHASES);
                }
            }
        });
        let max_retries = raw
            .max_retries
            .map(|n| self.number(&format!("{path}.max-retries"), Some(n), n, MAX_RETRIES));
        let log = raw.log.map(|l| self.log(l, &format!("{path}.log")));
        let tests = raw.tests.map(|t| self.tests(t, &format!("{path}.tests")));
        Rule {
            line: self.at.value(path).line,
            action,
            projects: self.globs(&format!("{path}.projects"), raw.projects, false),
            source_versions: self.globs(
                &format!("{path}.source-versions"),
                raw.source_versions,
                false,
            ),
            branches: self.globs(&format!("{path}.branches"), raw.branches, false),
            pull_request_bases: self.globs(
                &format!("{path}.pull-request-bases"),
                raw.pull_request_bases,
                false,
            ),
            groups: self.globs(&format!("{path}.groups"), raw.groups, false),
            statuses,
            phases,
            status_codes: self.globs(&format!("{path}.status-codes"), raw.status_codes, false),
            messages: self.globs(&format!("{path}.messages"), raw.messages, true),
            max_retries,
            log,
            tests,
            name: raw.name,
        }
    }

    fn log(&mut self, raw: RawLog, path: &str) -> LogCondition {
        let matches = self.regexes(&format!("{path}.matches"), raw.matches);
        let not_matches = raw
            .not_matches
            .map(|list| self.regexes(&format!("{path}.not-matches"), list));
        let tail_kib = self.number(
            &format!("{path}.tail-kib"),
            raw.tail_kib,
            DEFAULT_TAIL_KIB,
            TAIL_KIB,
        );
        LogCondition {
            matches,
            not_matches,
            tail_kib,
        }
    }

    fn tests(&mut self, raw: RawTests, path: &str) -> TestsCondition {
        if raw.failed.is_none() && raw.known_flaky_days.is_none() && raw.max_failed.is_none() {
            self.error(
                path,
                "empty-condition",
                "`tests` names no condition, so it would judge nothing".into(),
                Some("set `failed`, `known-flaky-days` or `max-failed`, or remove `tests`".into()),
            );
        }
        TestsCondition {
            failed: self.globs(&format!("{path}.failed"), raw.failed, false),
            known_flaky_days: raw.known_flaky_days.map(|n| {
                self.number(
                    &format!("{path}.known-flaky-days"),
                    Some(n),
                    n,
                    KNOWN_FLAKY_DAYS,
                )
            }),
            max_failed: raw
                .max_failed
                .map(|n| self.number(&format!("{path}.max-failed"), Some(n), n, MAX_FAILED)),
        }
    }

    /// Compiles a list of regexes, each within [`REGEX_SIZE_LIMIT`]. A bad one is reported at
    /// its character when the file spells the pattern literally, else at the pattern.
    fn regexes(&mut self, key: &str, patterns: Vec<String>) -> Regexes {
        if patterns.is_empty() {
            self.error(
                key,
                "empty-list",
                format!("`{}` is empty, so it can never match", leaf(key)),
                Some("list at least one pattern, or remove the key".into()),
            );
        }
        let mut good = true;
        for (j, pattern) in patterns.iter().enumerate() {
            let item = format!("{key}[{j}]");
            if pattern.is_empty() {
                self.error(
                    &item,
                    "bad-regex",
                    "an empty pattern matches every line".into(),
                    Some("write the text the line must contain".into()),
                );
                good = false;
                continue;
            }
            let built = regex::RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build();
            if built.is_ok() && can_match_empty(pattern) {
                self.error(
                    &item,
                    "bad-regex",
                    format!("regex `{pattern}` can match empty text, so it matches lines that hold none of what it names (an empty alternative such as `a|`, or only optional parts such as `x*`)"),
                    Some("remove the empty alternative, or make the pattern require the text the line must contain".into()),
                );
                good = false;
                continue;
            }
            if let Err(e) = built {
                good = false;
                let (message, offset) = regex_problem(pattern, &e);
                let help = if matches!(e, regex::Error::CompiledTooBig(_)) {
                    "use a smaller repetition count or a simpler pattern"
                } else {
                    "patterns are Rust regex syntax (https://docs.rs/regex/#syntax); escape a literal character with a backslash"
                };
                let pos = self.at.value(&item);
                let pos = offset
                    .and_then(|o| self.literal_column(pos, pattern, o))
                    .map_or(pos, |column| Pos { column, ..pos });
                self.error_at(
                    pos,
                    "bad-regex",
                    format!("bad regex `{pattern}`: {message}"),
                    Some(help.into()),
                );
            }
        }
        let set = regex::RegexSetBuilder::new(&patterns)
            .size_limit(REGEX_SIZE_LIMIT.saturating_mul(patterns.len().max(1)))
            .build();
        let set = match set {
            Ok(set) => set,
            Err(e) => {
                if good {
                    // Never an empty set in its place: a condition must not silently vanish.
                    self.error(
                        key,
                        "bad-regex",
                        format!(
                            "the patterns of `{}` cannot be compiled together: {}",
                            leaf(key),
                            first_line(&e.to_string())
                        ),
                        Some("use fewer or simpler patterns".into()),
                    );
                }
                regex::RegexSet::empty()
            }
        };
        Regexes { patterns, set }
    }

    /// The column of character `offset` (bytes) of `pattern` when the scalar at `pos` spells
    /// the pattern literally up to there (plain or quoted, no escapes before it).
    fn literal_column(&self, pos: Pos, pattern: &str, offset: usize) -> Option<usize> {
        let line = self.text.lines().nth(pos.line.checked_sub(1)?)?;
        let start: usize = line.char_indices().nth(pos.column - 1)?.0;
        let mut rest = &line[start..];
        let mut column = pos.column;
        if let Some(r) = rest.strip_prefix(['"', '\'']) {
            rest = r;
            column += 1;
        }
        let prefix = pattern.get(..offset)?;
        rest.starts_with(prefix)
            .then(|| column + prefix.chars().count())
    }

    fn non_empty(&mut self, key: &str, list: &[String]) {
        if list.is_empty() {
            self.error(
                key,
                "empty-list",
                format!("`{}` is empty, so the rule can never match", leaf(key)),
                Some("remove the key to match anything, or list at least one value".into()),
            );
        }
    }

    fn globs(
        &mut self,
        key: &str,
        patterns: Option<Vec<String>>,
        case_insensitive: bool,
    ) -> Option<Globs> {
        let patterns = patterns?;
        self.non_empty(key, &patterns);
        let mut set = GlobSetBuilder::new();
        for (j, pattern) in patterns.iter().enumerate() {
            if pattern.is_empty() {
                self.error(
                    &format!("{key}[{j}]"),
                    "bad-glob",
                    "an empty pattern matches only empty text".into(),
                    Some("use \"*\" to match anything".into()),
                );
                continue;
            }
            match GlobBuilder::new(pattern)
                .case_insensitive(case_insensitive)
                .literal_separator(false)
                .backslash_escape(true)
                .build()
            {
                Ok(glob) => {
                    set.add(glob);
                }
                Err(e) => self.error(
                    &format!("{key}[{j}]"),
                    "bad-glob",
                    format!("bad glob `{pattern}`: {}", e.kind()),
                    Some(
                        "globs use * ? [abc] {a,b}; escape a literal character with a backslash"
                            .into(),
                    ),
                ),
            }
        }
        let set = match set.build() {
            Ok(set) => set,
            Err(e) => {
                // Never an empty set in its place: a `refuse` rule must not silently vanish.
                self.error(
                    key,
                    "bad-glob",
                    format!(
                        "the patterns of `{}` cannot be compiled: {}",
                        leaf(key),
                        e.kind()
                    ),
                    Some("use fewer or simpler patterns".into()),
                );
                globset::GlobSet::empty()
            }
        };
        Some(Globs { patterns, set })
    }

    fn number(
        &mut self,
        key: &str,
        value: Option<u32>,
        default: u32,
        (min, max): (u32, u32),
    ) -> u32 {
        let Some(n) = value else { return default };
        if n < min || n > max {
            let why = match (n, leaf(key)) {
                (0, "failed-batches") => {
                    " (0 would refuse every retry; remove `outage` to turn the brake off)"
                }
                (0, "within-minutes") => " (0 minutes is no window at all)",
                (0, "per-project-per-day") => {
                    " (0 would never retry; remove the key for no daily limit)"
                }
                (0, "per-batch" | "per-commit") => {
                    " (0 would never retry; to refuse every failure, use a rule with `action: refuse`)"
                }
                (0, "max-retries") => {
                    " (0 would never retry; remove the rule or use `action: refuse`)"
                }
                _ => "",
            };
            self.error(
                key,
                "out-of-range",
                format!(
                    "`{}` is {n}; it must be between {min} and {max}{why}",
                    leaf(key)
                ),
                None,
            );
            return default.clamp(min, max);
        }
        n
    }

    fn unknown_value(&mut self, path: &str, what: &str, value: &str, allowed: &[&str]) {
        let help = match suggest(value, allowed) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("allowed: {}", allowed.join(", ")),
        };
        self.error(
            path,
            "unknown-value",
            format!("unknown {what} `{value}`"),
            Some(help),
        );
    }
}

/// A one-line description of why `pattern` does not compile, and the byte offset of the
/// problem within it when the parser knows it.
fn regex_problem(pattern: &str, err: &regex::Error) -> (String, Option<usize>) {
    match regex_syntax::ParserBuilder::new().build().parse(pattern) {
        Err(regex_syntax::Error::Parse(e)) => (e.kind().to_string(), Some(e.span().start.offset)),
        Err(regex_syntax::Error::Translate(e)) => {
            (e.kind().to_string(), Some(e.span().start.offset))
        }
        _ => match err {
            regex::Error::CompiledTooBig(limit) => (
                format!("it compiles to more than the limit of {limit} bytes"),
                None,
            ),
            other => (first_line(&other.to_string()), None),
        },
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(text)
        .to_string()
}

/// Removes every " at line L column C" from a message.
fn strip_position(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(i) = rest.find(" at line ") {
        out.push_str(&rest[..i]);
        let after = &rest[i + " at line ".len()..];
        let digits = |s: &str| s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let n = digits(after);
        match after[n..].strip_prefix(" column ") {
            Some(col) if n > 0 => rest = &col[digits(col)..],
            _ => {
                out.push_str(" at line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn leaf(key: &str) -> &str {
    key.rsplit('.').next().unwrap_or(key)
}

/// The closest allowed value, if it is close enough to be a likely typo.
fn suggest<'a>(value: &str, allowed: &[&'a str]) -> Option<&'a str> {
    let folded = value.to_ascii_uppercase().replace('-', "_");
    allowed
        .iter()
        .map(|a| {
            let candidate = a.to_ascii_uppercase().replace('-', "_");
            (strsim::damerau_levenshtein(&folded, &candidate), *a)
        })
        .filter(|(d, a)| *d <= 2.max(a.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, a)| a)
}

/// Whether `pattern` can match empty text: then it matches lines that hold none of the text
/// meant (`EAI_AGAIN|` matches every line, `\b(ECONNRESET|)\b` every line with a word in
/// it, `^$` every blank one). A `log` pattern must require some text.
fn can_match_empty(pattern: &str) -> bool {
    regex_syntax::Parser::new()
        .parse(pattern)
        .is_ok_and(|hir| hir.properties().minimum_len() == Some(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_values_only() {
        assert_eq!(suggest("FAULTY", &RULE_STATUSES), Some("FAULT"));
        assert_eq!(suggest("timed-out", &RULE_STATUSES), Some("TIMED_OUT"));
        assert_eq!(
            suggest("per_comit", &["per-batch", "per-commit"]),
            Some("per-commit")
        );
        assert_eq!(suggest("BANANA", &RULE_STATUSES), None);
    }

    #[test]
    fn strips_positions_from_messages() {
        assert_eq!(
            strip_position(
                "did not find ',' at line 4 column 13, while parsing at line 9 column 1"
            ),
            "did not find ',', while parsing"
        );
        assert_eq!(strip_position("at line one"), "at line one");
    }

    #[test]
    fn allowed_keys_come_from_the_schema() {
        let keys = allowed_keys();
        assert!(keys[0].1.contains(&"retry-type".to_string()));
        assert!(keys[1].1.contains(&"lookback-days".to_string()));
        assert!(keys[2].1.contains(&"status-codes".to_string()));
        assert!(keys[2].1.contains(&"pull-request-bases".to_string()));
        assert!(keys[2].1.contains(&"log".to_string()));
        assert_eq!(keys[2].1.len(), 14);
        assert!(keys[3].1.contains(&"within-minutes".to_string()));
    }
}
