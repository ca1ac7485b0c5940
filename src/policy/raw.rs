//! The policy file as written: strict serde structs, also the source of the JSON Schema.
//!
//! Enumerated values (statuses, phases, action, retry type) are read as text here and checked
//! in [`super::validate`], so that every wrong value in a file is reported with its position
//! and a suggestion, not only the first. Their schema still lists the allowed values.

use schemars::JsonSchema;
use serde::Deserialize;

/// A codebuild-retry-gate policy (version 1).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "codebuild-retry-gate policy")]
pub struct RawPolicy {
    /// Policy format version; must be 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Commit-status context the gate reports under; `{project}` becomes the batch's project
    /// (default `codebuild/retry-gate ({project})`: one status per project).
    #[schemars(length(min = 1, max = 255))]
    pub context: Option<String>,
    /// Which builds `RetryBuildBatch` reruns: only the failed ones (default) or all of them.
    #[schemars(with = "Option<RetryTypeName>")]
    pub retry_type: Option<String>,
    /// Retry budgets.
    pub budget: Option<RawBudget>,
    /// The outage brake: refuse every retry while many other batches of the project fail.
    pub outage: Option<RawOutage>,
    /// Ordered rules; for each failure the first rule whose selectors all match decides it.
    pub rules: Vec<RawRule>,
}

/// How many retries the gate may make.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Budget")]
pub struct RawBudget {
    /// Retries of one batch (default 2).
    #[schemars(range(min = 1, max = 10))]
    pub per_batch: Option<u32>,
    /// Retries of all batches of one commit and project (default 3).
    #[schemars(range(min = 1, max = 50))]
    pub per_commit: Option<u32>,
    /// How far back per-commit counting looks, in days (default 14).
    #[schemars(range(min = 1, max = 90))]
    pub lookback_days: Option<u32>,
    /// Retries of all batches of the project, any commit, in the 24 hours before the gate
    /// acts (default: no such limit).
    #[schemars(range(min = 1, max = 1000))]
    pub per_project_per_day: Option<u32>,
}

/// Brakes that only ever refuse. The outage brake: at least `failed-batches` other batches
/// (of other commits) failed within `within-minutes` before the gate acts (both keys or
/// neither). And `max-failed-share`: more than this share of the batch's own build groups
/// are root failures (it stands alone).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Outage")]
#[schemars(extend("dependentRequired" = {
    "failed-batches": ["within-minutes"],
    "within-minutes": ["failed-batches"]
}))]
#[schemars(extend("minProperties" = 1))]
pub struct RawOutage {
    /// How many other batches must have failed (with `within-minutes`).
    #[schemars(range(min = 1, max = 1000))]
    pub failed_batches: Option<u32>,
    /// In how many minutes before the gate acts (with `failed-batches`).
    #[schemars(range(min = 1, max = 1440))]
    pub within_minutes: Option<u32>,
    /// Refuse when root failures make up more than this share of the batch's build groups
    /// (CodeBuild's internal `DOWNLOAD_SOURCE` group not counted); 0 < share < 1.
    #[schemars(extend("exclusiveMinimum" = 0, "exclusiveMaximum" = 1))]
    pub max_failed_share: Option<f64>,
}

/// One rule: selectors that must all match a failure, and what to do with it.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Rule")]
pub struct RawRule {
    /// Unique name, shown in every verdict this rule decides.
    #[schemars(length(min = 1, max = 100))]
    pub name: String,
    /// `retry` (default) or `refuse`.
    #[schemars(with = "Option<ActionName>")]
    pub action: Option<String>,
    /// Globs over project names (default: all).
    pub projects: Option<Vec<String>>,
    /// Globs over the batch's `sourceVersion` as CodeBuild records it or in a canonical form
    /// (`refs/pull/N/head` is also `pr/N`; `refs/heads/NAME` and `refs/heads/NAME^{SHA}` are
    /// also `NAME` and `refs/heads/NAME`; `refs/tags/NAME` is also `NAME`), e.g. `pr/*` for
    /// batches a pull request started (default: all). A batch without a `sourceVersion`
    /// matches no rule that names this.
    pub source_versions: Option<Vec<String>>,
    /// Globs over the branches GitHub lists for the batch's commit: a `status` event's
    /// `branches` (branches that contain it, at most 10) when the event names this commit,
    /// else the branches whose head it is (default: any). Read from GitHub only when a rule
    /// uses it; if GitHub cannot be read, the rule does not match and says why.
    pub branches: Option<Vec<String>>,
    /// Globs over the base branches of the open pull requests whose head is the batch's
    /// commit (default: any). Read from GitHub only when a rule uses it; a commit no open
    /// pull request heads matches no rule that names this.
    pub pull_request_bases: Option<Vec<String>>,
    /// Globs over build-group identifiers (default: all). A rule that names groups does not
    /// match a failure of the batch itself (one that happened before any group ran).
    pub groups: Option<Vec<String>>,
    /// Build statuses this rule matches (default: FAILED, FAULT, TIMED_OUT).
    #[schemars(with = "Option<Vec<StatusName>>")]
    pub statuses: Option<Vec<String>>,
    /// Build or batch phase types in which the failure happened (default: any).
    #[schemars(with = "Option<Vec<PhaseName>>")]
    pub phases: Option<Vec<String>>,
    /// Globs over the failed phase's context `statusCode` (default: any).
    pub status_codes: Option<Vec<String>>,
    /// Globs over the failed phase's context `message`, case-insensitive (default: any).
    pub messages: Option<Vec<String>>,
    /// Per-batch cap on retries for failures this rule allows.
    #[schemars(range(min = 1, max = 10))]
    pub max_retries: Option<u32>,
    /// The failed build's log: read only when every other selector of the rule matches.
    pub log: Option<RawLog>,
    /// The failed build's CodeBuild test reports: read only when every other selector of
    /// the rule matches.
    pub tests: Option<RawTests>,
}

/// A condition on the tail of the failed build's log (CloudWatch Logs, else the S3 log).
/// Patterns are Rust `regex` syntax and match one line at a time.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Log")]
pub struct RawLog {
    /// Regexes: some line of the log's tail matches one of them.
    #[schemars(length(min = 1))]
    pub matches: Vec<String>,
    /// Regexes: no line of the log's tail matches any of them (optional).
    pub not_matches: Option<Vec<String>>,
    /// How much of the log's end is read, in KiB (default 256).
    #[schemars(range(min = 1, max = 4096))]
    pub tail_kib: Option<u32>,
}

/// A condition on the failed build's test reports. A test is named `PREFIX::NAME` (or
/// `NAME` without a prefix); a glob matches the name with or without its prefix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(rename = "Tests")]
pub struct RawTests {
    /// Globs: every failed or errored test matches one of them (a quarantine list).
    pub failed: Option<Vec<String>>,
    /// Or: every failed test is known flaky (it failed, then passed on a retry of the same
    /// commit) within this many days.
    #[schemars(range(min = 1, max = 90))]
    pub known_flaky_days: Option<u32>,
    /// And at most this many tests failed.
    #[schemars(range(min = 1, max = 10000))]
    pub max_failed: Option<u32>,
}

// Schema-only enums: the values the validator accepts, listed for editors.

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum RetryTypeName {
    FailedBuilds,
    AllBuilds,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum ActionName {
    Retry,
    Refuse,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum StatusName {
    Failed,
    Fault,
    TimedOut,
    Stopped,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum PhaseName {
    Submitted,
    Queued,
    Provisioning,
    DownloadSource,
    Install,
    PreBuild,
    Build,
    PostBuild,
    UploadArtifacts,
    Finalizing,
    Completed,
    DownloadBatchspec,
    InProgress,
    CombineArtifacts,
}
