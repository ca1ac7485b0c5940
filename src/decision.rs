//! The judgment's result: one value that every rendering (terminal, JSON, job summary,
//! commit status) is built from.

use serde::Serialize;

use crate::facts::Context;
use crate::policy::{Action, RetryType, Share};

/// What the gate does about the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Call `RetryBuildBatch`.
    Retry,
    /// Do not retry; report why.
    Refuse,
    /// The batch succeeded.
    Pass,
    /// The batch is still running (or was just retried by someone else).
    Wait,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Retry => "retry",
            Outcome::Refuse => "refuse",
            Outcome::Pass => "pass",
            Outcome::Wait => "wait",
        }
    }
}

/// Why the batch got its outcome. Stable codes, documented in docs/policy.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionCode {
    /// retry: every root failure is allowed by a rule and budgets are left.
    AllFailuresAllowed,
    /// refuse: a root failure is refused by a rule, or no rule allows it.
    FailureNotAllowed,
    /// refuse: the only obstacle is a matched rule's `max-retries`.
    RuleBudgetSpent,
    /// refuse: the batch has used its per-batch budget.
    BatchBudgetSpent,
    /// refuse: the commit has used its per-commit budget.
    CommitBudgetSpent,
    /// refuse: the project has used its retries for the 24 hours before the gate acts.
    ProjectBudgetSpent,
    /// refuse: many other batches of the project failed just before this one (outage brake).
    OutageSuspected,
    /// refuse: root failures make up more than `outage.max-failed-share` of the batch's
    /// build groups.
    TooManyFailed,
    /// refuse: the project's history could not be read whole inside a window a budget or the
    /// brake needs, so that budget cannot be counted.
    HistoryIncomplete,
    /// refuse: no rule's `projects` matches the batch's project.
    ProjectNotCovered,
    /// refuse: the batch failed but no failed group or batch phase explains it.
    NoFailureFound,
    /// refuse: the batch status is missing or not one the gate knows.
    UnknownBatchStatus,
    /// refuse: the batch itself was STOPPED (StopBuildBatch) and no rule names STOPPED for it.
    BatchStopped,
    /// refuse: a root failure could not be judged: a rule needed a fact that could not be read
    /// (a log, a test report), and no rule allows the failure without it.
    CouldNotJudge,
    /// refuse: the gate asked for the retry and CodeBuild rejected it.
    RetryRejected,
    /// pass: the batch succeeded.
    BatchSucceeded,
    /// wait: the batch is still in progress.
    BatchInProgress,
    /// wait: the batch reads failed, but it is not complete (a build is still running).
    BatchNotComplete,
    /// wait: someone else retried the batch between our read and our retry.
    RetriedElsewhere,
    /// wait: another batch of the same commit and project ran after this one ended; that
    /// batch speaks for the commit (nothing is retried or posted for this one).
    Superseded,
}

impl DecisionCode {
    pub fn as_str(self) -> &'static str {
        match self {
            DecisionCode::AllFailuresAllowed => "all-failures-allowed",
            DecisionCode::FailureNotAllowed => "failure-not-allowed",
            DecisionCode::RuleBudgetSpent => "rule-budget-spent",
            DecisionCode::BatchBudgetSpent => "batch-budget-spent",
            DecisionCode::CommitBudgetSpent => "commit-budget-spent",
            DecisionCode::ProjectBudgetSpent => "project-budget-spent",
            DecisionCode::OutageSuspected => "outage-suspected",
            DecisionCode::TooManyFailed => "too-many-failed",
            DecisionCode::HistoryIncomplete => "history-incomplete",
            DecisionCode::ProjectNotCovered => "project-not-covered",
            DecisionCode::NoFailureFound => "no-failure-found",
            DecisionCode::UnknownBatchStatus => "unknown-batch-status",
            DecisionCode::BatchStopped => "batch-stopped",
            DecisionCode::CouldNotJudge => "could-not-judge",
            DecisionCode::RetryRejected => "retry-rejected",
            DecisionCode::BatchSucceeded => "batch-succeeded",
            DecisionCode::BatchInProgress => "batch-in-progress",
            DecisionCode::BatchNotComplete => "batch-not-complete",
            DecisionCode::RetriedElsewhere => "retried-elsewhere",
            DecisionCode::Superseded => "superseded",
        }
    }
}

/// What was concluded about one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictCode {
    /// Its build succeeded.
    Succeeded,
    /// Its build is still running.
    InProgress,
    /// It has no build yet.
    NotStarted,
    /// Its status is not one the gate knows: a root failure that no rule can allow.
    UnknownStatus,
    /// It failed but has `ignoreFailure: true`.
    IgnoredFailure,
    /// It was STOPPED because a group it depends on failed or was stopped, or by the
    /// batch's fast-fail after another group failed; judged by that group.
    Collateral,
    /// A root failure a `retry` rule allows.
    AllowedByRule,
    /// A root failure a `refuse` rule refuses.
    RefusedByRule,
    /// A root failure no rule matches.
    NoMatchingRule,
    /// A STOPPED root failure, and no rule names STOPPED.
    StoppedNotNamed,
    /// A root failure in a project no rule covers.
    ProjectNotCovered,
    /// Allowed by a rule whose `max-retries` is spent.
    RuleBudgetSpent,
    /// A root failure that a rule needing an unreadable fact (a log, a test report) might have
    /// decided otherwise: refused, and the detail says which fact and why.
    CouldNotJudge,
    /// It failed, but the batch is not judged (still running, or of an unknown status).
    NotJudged,
}

impl VerdictCode {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictCode::Succeeded => "succeeded",
            VerdictCode::InProgress => "in-progress",
            VerdictCode::NotStarted => "not-started",
            VerdictCode::UnknownStatus => "unknown-status",
            VerdictCode::IgnoredFailure => "ignored-failure",
            VerdictCode::Collateral => "collateral",
            VerdictCode::AllowedByRule => "allowed-by-rule",
            VerdictCode::RefusedByRule => "refused-by-rule",
            VerdictCode::NoMatchingRule => "no-matching-rule",
            VerdictCode::StoppedNotNamed => "stopped-not-named",
            VerdictCode::ProjectNotCovered => "project-not-covered",
            VerdictCode::RuleBudgetSpent => "rule-budget-spent",
            VerdictCode::CouldNotJudge => "could-not-judge",
            VerdictCode::NotJudged => "not-judged",
        }
    }

    /// `retry`, `refuse` or `none`: the group's part in the decision.
    pub fn verdict(self) -> GroupRole {
        match self {
            VerdictCode::AllowedByRule => GroupRole::Retry,
            VerdictCode::UnknownStatus
            | VerdictCode::RefusedByRule
            | VerdictCode::NoMatchingRule
            | VerdictCode::StoppedNotNamed
            | VerdictCode::ProjectNotCovered
            | VerdictCode::RuleBudgetSpent
            | VerdictCode::CouldNotJudge => GroupRole::Refuse,
            _ => GroupRole::None,
        }
    }

    /// Whether this group is a root failure the decision was made on.
    pub fn is_root_failure(self) -> bool {
        self.verdict() != GroupRole::None
    }

    /// A refusal that no budget could lift (no rule, a refusing rule, an unknown status, an
    /// uncovered project): named before budget exhaustion in every reason.
    pub fn is_hard_refusal(self) -> bool {
        self.verdict() == GroupRole::Refuse && self != VerdictCode::RuleBudgetSpent
    }
}

/// A group's part in the decision: `retry` (a root failure a rule allows), `refuse` (a root
/// failure refused) or `none` (not a root failure). Serialised as those words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupRole {
    Retry,
    Refuse,
    None,
}

impl GroupRole {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Retry => "retry",
            GroupRole::Refuse => "refuse",
            GroupRole::None => "none",
        }
    }
}

/// The rule that decided a verdict, and where it is written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleRef {
    pub name: String,
    pub action: Action,
    pub file: String,
    pub line: usize,
}

/// The name shown for a failure of the batch itself (before any group ran).
pub const BATCH_ITSELF: &str = "(batch)";

/// One group's row in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupVerdict {
    /// Group identifier, or [`BATCH_ITSELF`].
    pub group: String,
    pub status: Option<String>,
    pub build_id: Option<String>,
    pub failed_phase: Option<String>,
    pub contexts: Vec<ContextView>,
    pub rule: Option<RuleRef>,
    pub code: VerdictCode,
    pub verdict: GroupRole,
    /// One sentence in plain words.
    pub detail: String,
    /// The log line that met the deciding rule's `log` condition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_match: Option<LogMatch>,
}

/// A line of a build's log that a rule's `log.matches` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogMatch {
    pub build_id: String,
    /// The pattern that matched, as the policy writes it.
    pub pattern: String,
    /// The line, cleaned (no control characters, no workflow commands), at most 200
    /// characters.
    pub line: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContextView {
    pub status_code: String,
    pub message: String,
}

impl From<&Context> for ContextView {
    fn from(c: &Context) -> ContextView {
        ContextView {
            status_code: c.status_code.clone(),
            message: c.message.clone(),
        }
    }
}

/// A `sourceVersion` as CodeBuild recorded it and the canonical forms rules also match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceVersionView {
    pub raw: String,
    pub canonical: Vec<String>,
}

/// Used, limit and what is left of one budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Figure {
    pub used: u32,
    pub limit: u32,
    pub remaining: u32,
}

impl Figure {
    pub fn new(used: u32, limit: u32) -> Figure {
        Figure {
            used,
            limit,
            remaining: limit.saturating_sub(used),
        }
    }
}

/// Other batches of the project (other commits) that failed within the window, against the
/// brake's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutageReport {
    pub failed_batches: u32,
    pub threshold: u32,
    pub within_minutes: u32,
    /// `failed_batches >= threshold`.
    pub braking: bool,
}

/// Root failures of the batch against its build groups, when the policy sets
/// `outage.max-failed-share`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FailedShareReport {
    /// Groups that are root failures (CodeBuild's internal `DOWNLOAD_SOURCE` group not
    /// counted).
    pub failed_groups: usize,
    /// The batch's build groups (`DOWNLOAD_SOURCE` not counted).
    pub groups: usize,
    pub max_failed_share: Share,
    /// `failed_groups / groups > max_failed_share`.
    pub braking: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BudgetReport {
    /// Retries of this batch, as CodeBuild records them.
    pub per_batch: Figure,
    /// Retries of all batches of this commit and project within the look-back.
    pub per_commit: Figure,
    /// Batches counted for the per-commit figure (this one included).
    pub commit_batches: usize,
    /// Whether the batch's commit is known; when it is not, the per-commit figure counts
    /// this batch alone.
    pub commit_known: bool,
    /// The history walk stopped at its page cap before the look-back boundary: figures drawn
    /// from the history may be too low.
    pub history_incomplete: bool,
    /// Retries of all the project's batches in the 24 hours before the moment of judgment,
    /// when the policy sets `per-project-per-day`.
    pub per_project_per_day: Option<Figure>,
    /// The outage brake, when the policy sets `outage.failed-batches`.
    pub outage: Option<OutageReport>,
    /// The share of failed groups, when the policy sets `outage.max-failed-share` (left out
    /// of the JSON otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_share: Option<FailedShareReport>,
    pub lookback_days: u32,
    /// The tightest `max-retries` of the rules that allowed failures, if any.
    pub rule_cap: Option<u32>,
    /// Retries the gate may still make on this batch: the least of all limits.
    pub remaining: u32,
}

/// The decision about one batch, with everything needed to explain it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub decision: Outcome,
    pub code: DecisionCode,
    /// One line, plain words.
    pub reason: String,
    pub batch_id: String,
    pub batch_arn: Option<String>,
    pub project: String,
    pub commit: Option<String>,
    pub batch_status: Option<String>,
    /// The batch's `sourceVersion` when it has canonical forms that rules also match
    /// (`refs/pull/7/head` is also `pr/7`); absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_version: Option<SourceVersionView>,
    /// Where the policy came from.
    pub policy: String,
    /// The commit-status context from the policy.
    pub context: String,
    /// `RETRY_FAILED_BUILDS` or `RETRY_ALL_BUILDS`.
    pub retry_type: RetryType,
    /// For `retry`: this is retry `attempt` of at most `attempt_limit`.
    pub attempt: Option<u32>,
    pub attempt_limit: u32,
    pub groups: Vec<GroupVerdict>,
    pub budget: BudgetReport,
}

/// A decision to retry, with the attempt it starts: the only way to a retry's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOrder {
    /// 1-based: the retries already made on the batch, plus one.
    pub attempt: u32,
}

impl Decision {
    /// The order to retry: `Some` only for a `retry` decision that carries its attempt.
    pub fn retry_order(&self) -> Option<RetryOrder> {
        match (self.decision, self.attempt) {
            (Outcome::Retry, Some(attempt)) if attempt >= 1 => Some(RetryOrder { attempt }),
            _ => None,
        }
    }

    /// The root failure a refusal is blamed on first: one that no budget could fix, else
    /// the first refused one.
    pub fn blamed(&self) -> Option<&GroupVerdict> {
        blamed(&self.groups)
    }

    /// CodeBuild answered the retry with "not failed any more" and the batch reads so: someone
    /// else retried it between our read and our retry.
    pub fn retried_elsewhere(&mut self) {
        self.decision = Outcome::Wait;
        self.code = DecisionCode::RetriedElsewhere;
        self.attempt = None;
        self.reason = "Batch was retried by someone else; waiting for it".to_string();
    }

    /// Another batch of the commit (`newer`) has an attempt that started after this batch's
    /// latest attempt ended: it speaks for the commit. Nothing is retried or posted for this
    /// batch; the outputs say `wait` and name the newer batch.
    pub fn superseded(&mut self, newer: &str) {
        self.decision = Outcome::Wait;
        self.code = DecisionCode::Superseded;
        self.attempt = None;
        let newer: String = newer
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect();
        self.reason = format!(
            "Superseded: batch {newer} of the same commit ran after this one ended; its status speaks for the commit"
        );
    }

    /// CodeBuild rejected the retry and the batch still reads failed: a refusal, with
    /// CodeBuild's own words.
    pub fn retry_rejected(&mut self, why: &str) {
        self.decision = Outcome::Refuse;
        self.code = DecisionCode::RetryRejected;
        self.attempt = None;
        let why: String = why
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(300)
            .collect();
        self.reason = format!("Not retried: CodeBuild rejected the retry: {why}");
    }
}

/// See [`Decision::blamed`].
pub fn blamed(groups: &[GroupVerdict]) -> Option<&GroupVerdict> {
    groups
        .iter()
        .find(|g| g.code.is_hard_refusal() && g.code != VerdictCode::CouldNotJudge)
        .or_else(|| groups.iter().find(|g| g.code.is_hard_refusal()))
        .or_else(|| groups.iter().find(|g| g.verdict == GroupRole::Refuse))
}
