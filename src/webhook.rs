//! CodeBuild's webhook filters, judged for a pull request: would any of the pull request's
//! events (`PULL_REQUEST_CREATED`, `PULL_REQUEST_UPDATED`, `PULL_REQUEST_REOPENED`) start a
//! batch of the project? Pure: plain data in, a three-valued answer out. `reconcile` posts
//! `success` "Not built" only on [`Judgment::NotBuilt`]; a wrong "not built" merges untested
//! code, so every doubt is [`Judgment::Uncertain`].
//!
//! What CodeBuild documents, and how it is read here (CodeBuild user guide, "GitHub webhook
//! events" and "Filter GitHub webhook events"; API reference `Webhook`, `WebhookFilter`;
//! service model codebuild-2016-10-06):
//! - "For a build to be triggered, at least one filter group in the `filterGroups` array must
//!   pass. For a filter group to pass, each of its filters must pass" (`Webhook.filterGroups`):
//!   groups are OR'ed, the filters of a group AND'ed. Here in Kleene's three-valued logic: a
//!   group is false when one filter is false, unknown when none is false but one is unknown.
//! - "At least one WebhookFilter in the array must specify EVENT as its type": a group without
//!   EVENT is not judged (unknown).
//! - `EVENT`: "a comma-separated string" of event types. The pull request actions map to
//!   `opened` → PULL_REQUEST_CREATED, `synchronize` → PULL_REQUEST_UPDATED, `reopened` →
//!   PULL_REQUEST_REOPENED. An event name the gate does not know is unknown.
//! - `excludeMatchedPattern`: "If true, then a webhook event that does not match the pattern
//!   triggers a build."
//! - Every other type's `pattern` is "a regular expression"; the documented example "the
//!   pattern `^refs/heads/` triggers a build when the head reference is a branch with a
//!   reference name `refs/heads/branch-name`" shows that a pattern needs to match only part of
//!   the value (a search, not a whole-string match); see [`Pattern`] for the dialect.
//! - `HEAD_REF` / `BASE_REF`: the pull request's head and base branch as `refs/heads/NAME`
//!   (the documented examples `^refs/heads/main$`).
//! - `ACTOR_ACCOUNT_ID`: the GitHub account id of the event's sender; taken here as the pull
//!   request author's id (an assumption: a push or a reopen by someone else sends their id).
//! - `FILE_PATH`: "A webhook triggers a build when the path of a changed file matches the
//!   regular expression". Taken as: some changed file of the pull request matches. With
//!   `excludeMatchedPattern` the documentation does not say whether one matching file or all
//!   of them exclude the event: only "every changed file matches" is judged false, "none
//!   matches" true, anything between unknown. A rename counts with both its names. Works with
//!   GitHub (not GitHub Enterprise Server) pull request events: elsewhere unknown.
//! - `COMMIT_MESSAGE`: "the head commit message matches". The same GitHub-only limit.
//! - `TAG_NAME`, `RELEASE_NAME`, `WORKFLOW_NAME`, `REPOSITORY_NAME`, `ORGANIZATION_NAME` and any
//!   type the gate does not know: unknown for a pull request.

use std::collections::BTreeSet;

use regex_syntax::ast::{self, Ast};

/// The pull request events CodeBuild knows (`WebhookFilter.type` EVENT).
pub const PULL_REQUEST_EVENTS: [&str; 3] = [
    "PULL_REQUEST_CREATED",
    "PULL_REQUEST_UPDATED",
    "PULL_REQUEST_REOPENED",
];
/// Every event type of the service model's `EVENT` documentation.
pub const KNOWN_EVENTS: [&str; 9] = [
    "PUSH",
    "PULL_REQUEST_CREATED",
    "PULL_REQUEST_UPDATED",
    "PULL_REQUEST_CLOSED",
    "PULL_REQUEST_REOPENED",
    "PULL_REQUEST_MERGED",
    "RELEASED",
    "PRERELEASED",
    "WORKFLOW_JOB_QUEUED",
];
/// Patterns longer than this are not judged.
pub const MAX_PATTERN_CHARS: usize = 1000;
/// Compiled size limit of one pattern.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A project's webhook as `BatchGetProjects` describes it, in plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Webhook {
    /// `buildType`: `BUILD`, `BUILD_BATCH`, … (`None` when absent).
    pub build_type: Option<String>,
    /// `filterGroups`.
    pub filter_groups: Vec<Vec<Filter>>,
    /// `branchFilter` (the older form of filters).
    pub branch_filter: Option<String>,
    /// `pullRequestBuildPolicy.requiresCommentApproval` (`DISABLED`, `ALL_PULL_REQUESTS`,
    /// `FORK_PULL_REQUESTS`), when there is a policy.
    pub requires_comment_approval: Option<String>,
    /// `scopeConfiguration` is set: an organization or global webhook.
    pub scoped: bool,
    /// `status` (`ACTIVE`, `CREATING`, …), when given.
    pub status: Option<String>,
}

/// One `WebhookFilter`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// `type`, as CodeBuild sent it.
    pub kind: String,
    pub pattern: String,
    /// `excludeMatchedPattern`.
    pub exclude: bool,
}

/// What is known about a pull request, for its filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// The base branch's name (`main`).
    pub base_ref: String,
    /// The head branch's name.
    pub head_ref: String,
    /// The author's GitHub account id.
    pub author_id: Option<u64>,
    /// Every changed file's path (renames with both names); `Err` says why they are not known
    /// (e.g. more than GitHub lists).
    pub files: Result<Vec<String>, String>,
    /// The head commit's message, when it was read; `Err` says why not.
    pub head_message: Result<String, String>,
    /// The repository is on GitHub.com: FILE_PATH and COMMIT_MESSAGE work with its pull
    /// request events (not with GitHub Enterprise Server's).
    pub github_com: bool,
}

/// The answer for one pull request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgment {
    /// No filter group can match any of its events: CodeBuild starts no batch.
    NotBuilt,
    /// Some event certainly passes a filter group (which, and why).
    Built(String),
    /// It cannot be told (why): post nothing.
    Uncertain(String),
}

/// A three-valued truth.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Tri {
    True,
    False,
    Unknown(String),
}

impl Tri {
    fn of(b: bool) -> Tri {
        if b { Tri::True } else { Tri::False }
    }

    fn xor(self, exclude: bool) -> Tri {
        match (self, exclude) {
            (Tri::True, true) => Tri::False,
            (Tri::False, true) => Tri::True,
            (t, _) => t,
        }
    }
}

/// Whether the webhook can be judged for pull requests at all; `Err` says why not.
pub fn judgeable(webhook: Option<&Webhook>) -> Result<&Webhook, String> {
    let w = webhook.ok_or("the project has no webhook (its builds are started some other way)")?;
    if let Some(status) = w.status.as_deref().filter(|s| *s != "ACTIVE") {
        return Err(format!("its webhook is not active (status {status})"));
    }
    match w.build_type.as_deref() {
        Some("BUILD_BATCH") => {}
        Some(other) => {
            return Err(format!(
                "its webhook starts builds of type {other}, not batches"
            ));
        }
        None => return Err("its webhook does not say which type of build it starts".into()),
    }
    match w.requires_comment_approval.as_deref() {
        None | Some("DISABLED") => {}
        Some(other) => {
            return Err(format!(
                "its pull request build policy requires comment approval ({other}): an approval can still start a batch"
            ));
        }
    }
    if w.branch_filter.as_deref().is_some_and(|f| !f.is_empty()) {
        return Err("its webhook has a branchFilter, which the gate does not judge".into());
    }
    if w.scoped {
        return Err(
            "its webhook is an organization or global webhook, which the gate does not judge"
                .into(),
        );
    }
    Ok(w)
}

/// The filters that read the changed files or the head commit's message, so that they are
/// read only when needed.
pub fn needs(webhook: &Webhook) -> (bool, bool) {
    let kinds: BTreeSet<&str> = webhook
        .filter_groups
        .iter()
        .flatten()
        .map(|f| f.kind.as_str())
        .collect();
    (
        kinds.contains("FILE_PATH"),
        kinds.contains("COMMIT_MESSAGE"),
    )
}

/// Would any of the pull request's events start a batch?
pub fn judge(webhook: Option<&Webhook>, pr: &PullRequest) -> Judgment {
    let w = match judgeable(webhook) {
        Ok(w) => w,
        Err(why) => return Judgment::Uncertain(why),
    };
    if w.filter_groups.is_empty() {
        return Judgment::Built(
            "its webhook has no filter groups: every event starts a batch".into(),
        );
    }
    let mut unknown = None;
    for event in PULL_REQUEST_EVENTS {
        for (i, group) in w.filter_groups.iter().enumerate() {
            match group_passes(group, event, pr) {
                Tri::True => {
                    return Judgment::Built(format!("filter group {} passes for {event}", i + 1));
                }
                Tri::Unknown(why) => {
                    unknown.get_or_insert_with(|| format!("filter group {}: {why}", i + 1));
                }
                Tri::False => {}
            }
        }
    }
    match unknown {
        Some(why) => Judgment::Uncertain(why),
        None => Judgment::NotBuilt,
    }
}

fn group_passes(group: &[Filter], event: &str, pr: &PullRequest) -> Tri {
    if !group.iter().any(|f| f.kind == "EVENT") {
        return Tri::Unknown("it has no EVENT filter".into());
    }
    let mut unknown = None;
    for filter in group {
        match filter_passes(filter, event, pr) {
            Tri::False => return Tri::False,
            Tri::Unknown(why) => {
                unknown.get_or_insert(why);
            }
            Tri::True => {}
        }
    }
    unknown.map_or(Tri::True, Tri::Unknown)
}

fn filter_passes(f: &Filter, event: &str, pr: &PullRequest) -> Tri {
    let subject = |value: &str| -> Tri {
        match Pattern::new(&f.pattern) {
            Ok(p) => p.find(value, Subject::Ref).xor(f.exclude),
            Err(why) => Tri::Unknown(why),
        }
    };
    match f.kind.as_str() {
        "EVENT" => {
            let names: Vec<&str> = f.pattern.split(',').map(str::trim).collect();
            if let Some(name) = names.iter().find(|n| !KNOWN_EVENTS.contains(n)) {
                return Tri::Unknown(format!(
                    "EVENT type `{}` is not one the gate knows",
                    clip(name)
                ));
            }
            Tri::of(names.contains(&event)).xor(f.exclude)
        }
        "HEAD_REF" => subject(&format!("refs/heads/{}", pr.head_ref)),
        "BASE_REF" => subject(&format!("refs/heads/{}", pr.base_ref)),
        "ACTOR_ACCOUNT_ID" => match pr.author_id {
            Some(id) => subject(&id.to_string()),
            None => Tri::Unknown("the pull request's author is not known".into()),
        },
        "FILE_PATH" => {
            if !pr.github_com {
                return Tri::Unknown(
                    "FILE_PATH is documented for GitHub pull request events, not GitHub Enterprise Server's".into(),
                );
            }
            let files = match &pr.files {
                Ok(files) if files.is_empty() => {
                    return Tri::Unknown("the pull request changes no file".into());
                }
                Ok(files) => files,
                Err(why) => return Tri::Unknown(why.clone()),
            };
            let pattern = match Pattern::new(&f.pattern) {
                Ok(p) => p,
                Err(why) => return Tri::Unknown(why),
            };
            let results: Vec<Tri> = files
                .iter()
                .map(|p| pattern.find(p, Subject::Path))
                .collect();
            let any = results.contains(&Tri::True);
            let all = results.iter().all(|r| *r == Tri::True);
            let none = results.iter().all(|r| *r == Tri::False);
            match (f.exclude, any, all, none) {
                // Some changed file matches: the event matches.
                (false, true, _, _) => Tri::True,
                (false, false, _, true) => Tri::False,
                // Every changed file matches: excluded, however "matches" is read.
                (true, _, true, _) => Tri::False,
                (true, _, _, true) => Tri::True,
                (true, true, false, false) => Tri::Unknown(format!(
                    "excluding FILE_PATH `{}` matches some changed files but not all, and CodeBuild does not document which it means",
                    clip(&f.pattern)
                )),
                _ => results
                    .into_iter()
                    .find(|r| matches!(r, Tri::Unknown(_)))
                    .unwrap_or(Tri::Unknown("a changed file cannot be judged".into())),
            }
        }
        "COMMIT_MESSAGE" => {
            if !pr.github_com {
                return Tri::Unknown(
                    "COMMIT_MESSAGE is documented for GitHub pull request events, not GitHub Enterprise Server's".into(),
                );
            }
            match (&pr.head_message, Pattern::new(&f.pattern)) {
                (Ok(message), Ok(p)) => p.find(message, Subject::Message).xor(f.exclude),
                (Err(why), _) => Tri::Unknown(why.clone()),
                (_, Err(why)) => Tri::Unknown(why),
            }
        }
        other => Tri::Unknown(format!(
            "a {} filter is not judged for pull requests",
            clip(other)
        )),
    }
}

fn clip(text: &str) -> String {
    crate::text::clean(text, 80)
}

/// What a pattern is matched against: the limits on the text differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// A ref or an account id: one line of printable ASCII.
    Ref,
    /// A file path: the same.
    Path,
    /// A commit message: printable ASCII lines (`\n`, tabs), not ending in a line break.
    Message,
}

/// A `WebhookFilter` pattern the gate can evaluate the way CodeBuild does.
///
/// CodeBuild documents its patterns only as "regular expressions"; it is a Java service, and
/// its patterns follow `java.util.regex` (an assumption). Rust's `regex` gives the same
/// answer for a subset: patterns of printable ASCII whose syntax means the same in both —
/// literals, `.`, classes (no POSIX `[[:x:]]` classes, no set operations `&&`/`--`/`~~`),
/// `\d \s \w \b \B` (ASCII in Java, Unicode in Rust: equal on ASCII text), `^ $ \A \z`,
/// groups (not `(?P<…>`), repetitions (not nested, not `{,n}`), alternation, and the flags
/// `i`, `m`, `s` — matched against ASCII text without carriage returns (where Java's `.`,
/// `$` and line ends differ from Rust's). Everything else (lookaround, backreferences,
/// possessive quantifiers, `\Q…\E`, `\p{…}`, `\v`, octal escapes, non-ASCII) is not judged.
pub struct Pattern {
    regex: regex::Regex,
}

impl Pattern {
    pub fn new(pattern: &str) -> Result<Pattern, String> {
        let shown = clip(pattern);
        let refuse = |why: &str| {
            format!("the pattern `{shown}` {why}, so the gate cannot judge it as CodeBuild would")
        };
        if pattern.chars().count() > MAX_PATTERN_CHARS {
            return Err(refuse("is too long"));
        }
        if !pattern.chars().all(|c| (' '..='~').contains(&c)) {
            return Err(refuse("has characters outside printable ASCII"));
        }
        if pattern.contains("{,") {
            return Err(refuse("uses `{,n}`"));
        }
        let parsed = ast::parse::Parser::new().parse(pattern).map_err(|_| {
            refuse("is not in the regular-expression syntax the gate shares with Java")
        })?;
        ast::visit(&parsed, Dialect).map_err(|what| refuse(&format!("uses {what}")))?;
        let regex = regex::RegexBuilder::new(pattern)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map_err(|_| refuse("does not compile within the gate's limits"))?;
        Ok(Pattern { regex })
    }

    /// Whether the pattern matches some part of `text` (a search, as CodeBuild's examples
    /// show); unknown for text where Java's and Rust's regexes may differ.
    fn find(&self, text: &str, subject: Subject) -> Tri {
        let ok = match subject {
            Subject::Ref | Subject::Path => text.chars().all(|c| (' '..='~').contains(&c)),
            Subject::Message => {
                text.chars()
                    .all(|c| (' '..='~').contains(&c) || c == '\n' || c == '\t')
                    && !text.ends_with('\n')
            }
        };
        if !ok {
            return Tri::Unknown(format!(
                "`{}` has characters (outside printable ASCII, or a trailing line break) where Java's and Rust's regular expressions may disagree",
                clip(text)
            ));
        }
        Tri::of(self.regex.is_match(text))
    }
}

/// Refuses the constructs whose meaning differs between Java's and Rust's regexes.
struct Dialect;

impl Dialect {
    fn literal(l: &ast::Literal) -> Result<(), &'static str> {
        use ast::{HexLiteralKind as H, LiteralKind as K, SpecialLiteralKind as S};
        match &l.kind {
            K::Verbatim | K::Meta => Ok(()),
            K::Superfluous if l.c.is_ascii_punctuation() => Ok(()),
            K::HexFixed(H::X | H::UnicodeShort) | K::HexBrace(H::X) => Ok(()),
            K::Special(S::Bell | S::FormFeed | S::Tab | S::LineFeed | S::CarriageReturn) => Ok(()),
            K::Octal => Err("an octal escape"),
            K::Special(S::VerticalTab) => Err("`\\v`"),
            _ => Err("an escape Java reads differently"),
        }
    }

    fn flags(flags: &ast::Flags) -> Result<(), &'static str> {
        for item in &flags.items {
            match item.kind {
                ast::FlagsItemKind::Negation
                | ast::FlagsItemKind::Flag(
                    ast::Flag::CaseInsensitive
                    | ast::Flag::MultiLine
                    | ast::Flag::DotMatchesNewLine,
                ) => {}
                _ => return Err("a flag other than i, m and s"),
            }
        }
        Ok(())
    }
}

impl ast::Visitor for Dialect {
    type Output = ();
    type Err = &'static str;

    fn finish(self) -> Result<(), &'static str> {
        Ok(())
    }

    fn visit_pre(&mut self, node: &Ast) -> Result<(), &'static str> {
        match node {
            Ast::Empty(_) | Ast::Dot(_) | Ast::Alternation(_) | Ast::Concat(_) => Ok(()),
            Ast::ClassPerl(_) | Ast::ClassBracketed(_) => Ok(()),
            Ast::Literal(l) => Dialect::literal(l),
            Ast::Flags(f) => Dialect::flags(&f.flags),
            Ast::ClassUnicode(_) => Err("a Unicode class `\\p{…}`"),
            Ast::Assertion(a) => match a.kind {
                ast::AssertionKind::StartLine
                | ast::AssertionKind::EndLine
                | ast::AssertionKind::StartText
                | ast::AssertionKind::EndText
                | ast::AssertionKind::WordBoundary
                | ast::AssertionKind::NotWordBoundary => Ok(()),
                _ => Err("a word-boundary form Java does not have"),
            },
            Ast::Repetition(r) => match *r.ast {
                Ast::Repetition(_) => Err("a repetition of a repetition (possessive in Java)"),
                _ => Ok(()),
            },
            Ast::Group(g) => match &g.kind {
                ast::GroupKind::CaptureIndex(_) => Ok(()),
                ast::GroupKind::CaptureName { starts_with_p, .. } => {
                    if *starts_with_p {
                        Err("`(?P<name>…)`")
                    } else {
                        Ok(())
                    }
                }
                ast::GroupKind::NonCapturing(flags) => Dialect::flags(flags),
            },
        }
    }

    fn visit_class_set_item_pre(&mut self, item: &ast::ClassSetItem) -> Result<(), &'static str> {
        match item {
            ast::ClassSetItem::Empty(_)
            | ast::ClassSetItem::Perl(_)
            | ast::ClassSetItem::Bracketed(_)
            | ast::ClassSetItem::Union(_) => Ok(()),
            ast::ClassSetItem::Literal(l) => Dialect::literal(l),
            ast::ClassSetItem::Range(r) => {
                Dialect::literal(&r.start)?;
                Dialect::literal(&r.end)
            }
            ast::ClassSetItem::Ascii(_) => Err("a POSIX class `[[:name:]]`"),
            ast::ClassSetItem::Unicode(_) => Err("a Unicode class `\\p{…}`"),
        }
    }

    fn visit_class_set_binary_op_pre(
        &mut self,
        _op: &ast::ClassSetBinaryOp,
    ) -> Result<(), &'static str> {
        Err("a class set operation (`&&`, `--`, `~~`)")
    }
}
