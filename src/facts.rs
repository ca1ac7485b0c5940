//! Plain data about a CodeBuild batch: what the judgment looks at.
//!
//! These are our own types, not the SDK's. They are filled either from AWS CLI JSON
//! ([`awscli`], for offline `explain`) or from the SDK's outputs (the live gate), so both
//! paths share one judgment. Values outside the documented enums are kept as text.

pub mod awscli;
pub mod captured_logs;
pub mod expensive;
pub mod github;
pub mod reports;
pub mod sdk;
pub mod source_version;

use std::collections::BTreeMap;
use std::fmt;

/// A build or batch status (`StatusType` in the CodeBuild model).
///
/// Unknown values from the service (e.g. `PENDING`, `CLIENT_ERROR`, `RETRY`) are kept as
/// [`Status::Other`] so they can be shown and judged (never retried by accident).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    Succeeded,
    Failed,
    Fault,
    TimedOut,
    InProgress,
    Stopped,
    Other(String),
}

impl Status {
    /// The documented values, in the service model's order.
    pub const KNOWN: [Status; 6] = [
        Status::Succeeded,
        Status::Failed,
        Status::Fault,
        Status::TimedOut,
        Status::InProgress,
        Status::Stopped,
    ];

    pub fn parse(text: &str) -> Status {
        match text {
            "SUCCEEDED" => Status::Succeeded,
            "FAILED" => Status::Failed,
            "FAULT" => Status::Fault,
            "TIMED_OUT" => Status::TimedOut,
            "IN_PROGRESS" => Status::InProgress,
            "STOPPED" => Status::Stopped,
            other => Status::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Status::Succeeded => "SUCCEEDED",
            Status::Failed => "FAILED",
            Status::Fault => "FAULT",
            Status::TimedOut => "TIMED_OUT",
            Status::InProgress => "IN_PROGRESS",
            Status::Stopped => "STOPPED",
            Status::Other(text) => text,
        }
    }

    /// FAILED, FAULT, TIMED_OUT or STOPPED: the build ended and did not succeed.
    pub fn is_failure(&self) -> bool {
        matches!(
            self,
            Status::Failed | Status::Fault | Status::TimedOut | Status::Stopped
        )
    }

    /// Not ended yet: IN_PROGRESS, or `PENDING`, which CodeBuild reports (outside its
    /// documented enum) for a group waiting on the groups it depends on.
    pub fn is_unfinished(&self) -> bool {
        match self {
            Status::InProgress => true,
            Status::Other(text) => text == PENDING,
            _ => false,
        }
    }

    /// A value the gate does not know (neither documented nor `PENDING`).
    pub fn is_unknown(&self) -> bool {
        matches!(self, Status::Other(text) if text != PENDING)
    }
}

/// The build status CodeBuild reports for a group that waits on its dependencies (seen in
/// the AWS CLI's own `stop-build-batch` example).
pub const PENDING: &str = "PENDING";

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_epoch_seconds(seconds: f64) -> Timestamp {
        Timestamp((seconds * 1000.0).round() as i64)
    }
}

/// `{statusCode, message}` of a phase. Empty pairs are dropped when facts are built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    pub status_code: String,
    pub message: String,
}

impl Context {
    pub fn is_empty(&self) -> bool {
        self.status_code.trim().is_empty() && self.message.trim().is_empty()
    }
}

/// A build phase or a batch phase.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Phase {
    /// `phaseType`, as text (build and batch phase types share one namespace here).
    pub phase_type: String,
    /// `phaseStatus`; absent on the phase that is current or final.
    pub status: Option<Status>,
    /// Non-empty contexts only.
    pub contexts: Vec<Context>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
}

/// `BuildSummary`: one build of a build group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSummary {
    pub arn: Option<String>,
    pub status: Option<Status>,
    pub requested_on: Option<Timestamp>,
}

impl BuildSummary {
    /// The build id (`project:uuid`) from the ARN (`...:build/project:uuid`).
    pub fn build_id(&self) -> Option<&str> {
        build_id_from_arn(self.arn.as_deref()?)
    }
}

/// `arn:aws:codebuild:REGION:ACCOUNT:build/PROJECT:UUID` → `PROJECT:UUID`.
pub fn build_id_from_arn(arn: &str) -> Option<&str> {
    arn.split_once(":build/").map(|(_, id)| id)
}

/// A build group of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Group {
    pub identifier: String,
    pub depends_on: Vec<String>,
    pub ignore_failure: bool,
    pub current: Option<BuildSummary>,
    pub prior: Vec<BuildSummary>,
}

impl Group {
    pub fn status(&self) -> Option<&Status> {
        self.current.as_ref()?.status.as_ref()
    }
}

/// One build (from `BatchGetBuilds`), for its phases.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Build {
    pub id: String,
    pub arn: Option<String>,
    pub status: Option<Status>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub phases: Vec<Phase>,
    pub batch_arn: Option<String>,
    /// The ARNs of the build's reports (`reportArns`), test and code coverage.
    pub report_arns: Vec<String>,
    /// Where CodeBuild wrote the build's log (`logs`), when it says.
    pub logs: Option<LogLocation>,
}

/// Where CodeBuild wrote a build's log (`logs` of `BatchGetBuilds`): a CloudWatch Logs
/// stream, an S3 object (gzip), both or neither.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogLocation {
    /// `logs.groupName` and `logs.streamName`: the CloudWatch Logs stream.
    pub group: Option<String>,
    pub stream: Option<String>,
    /// `logs.cloudWatchLogs.status` (`ENABLED` / `DISABLED`), when given.
    pub cloudwatch_status: Option<String>,
    /// `logs.s3LogsArn`: `arn:PARTITION:s3:::BUCKET/KEY` of the log object.
    pub s3_arn: Option<String>,
    /// `logs.s3Logs.status` (`ENABLED` / `DISABLED`), when given.
    pub s3_status: Option<String>,
    /// `logs.s3Logs.location`: `BUCKET/PREFIX` or `arn:aws:s3:::BUCKET/PREFIX`.
    pub s3_location: Option<String>,
}

impl Build {
    /// Every moment CodeBuild recorded on the build: its start and end, and its phases'.
    pub fn recorded_moments(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let phases = self.phases.iter().flat_map(|p| [p.start_time, p.end_time]);
        [self.start_time, self.end_time]
            .into_iter()
            .chain(phases)
            .flatten()
    }

    /// When the build ended: its `endTime`, else the latest end of its phases.
    pub fn ended_at(&self) -> Option<Timestamp> {
        self.end_time
            .or_else(|| self.phases.iter().filter_map(|p| p.end_time).max())
    }
}

/// A batch build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batch {
    /// `project:uuid`.
    pub id: String,
    pub arn: Option<String>,
    pub project: String,
    pub status: Option<Status>,
    pub complete: bool,
    pub source_version: Option<String>,
    pub resolved_source_version: Option<String>,
    /// The primary source's location, e.g. `https://github.com/OWNER/REPO.git`.
    pub source_location: Option<String>,
    pub start_time: Option<Timestamp>,
    pub end_time: Option<Timestamp>,
    pub phases: Vec<Phase>,
    pub groups: Vec<Group>,
}

impl Batch {
    /// Retries recorded by CodeBuild itself: each `RetryBuildBatch` leaves a batch phase
    /// `FAILED` with status `RETRY`, and the retried groups keep their earlier builds as prior
    /// summaries. The larger of the two counts is taken, so a gap in one record never
    /// lowers the count (fail closed).
    pub fn retries_recorded(&self) -> u32 {
        let phases = self.phases.iter().filter(|p| is_retry_marker(p)).count();
        let prior = self.groups.iter().map(|g| g.prior.len()).max().unwrap_or(0);
        u32::try_from(phases.max(prior)).unwrap_or(u32::MAX)
    }

    /// When each retry recorded on the batch was made: the end of its `FAILED`/`RETRY`
    /// marker (the moment the retry restarted the batch), else the marker's start; `None`
    /// when CodeBuild recorded neither.
    pub fn retry_times(&self) -> Vec<Option<Timestamp>> {
        self.phases
            .iter()
            .filter(|p| is_retry_marker(p))
            .map(|p| p.end_time.or(p.start_time))
            .collect()
    }

    /// When attempts of the batch ended in failure: each retried attempt (the start of its
    /// retry marker) and, if the batch now reads FAILED, FAULT or TIMED_OUT, its end. `None`
    /// where CodeBuild recorded no time.
    pub fn failure_times(&self) -> Vec<Option<Timestamp>> {
        let mut times: Vec<Option<Timestamp>> = self
            .phases
            .iter()
            .filter(|p| is_retry_marker(p))
            .map(|p| p.start_time.or(p.end_time))
            .collect();
        if matches!(
            self.status,
            Some(Status::Failed | Status::Fault | Status::TimedOut)
        ) {
            times.push(self.end_time);
        }
        times
    }

    /// Every moment CodeBuild recorded on the batch: its start and end, and its phases'.
    pub fn recorded_moments(&self) -> impl Iterator<Item = Timestamp> + '_ {
        let phases = self.phases.iter().flat_map(|p| [p.start_time, p.end_time]);
        [self.start_time, self.end_time]
            .into_iter()
            .chain(phases)
            .flatten()
    }

    /// The batch phases of the current attempt: those after the last retry marker.
    pub fn current_attempt_phases(&self) -> &[Phase] {
        let start = self
            .phases
            .iter()
            .rposition(is_retry_marker)
            .map_or(0, |i| i + 1);
        &self.phases[start..]
    }

    /// The commit the batch built: `resolvedSourceVersion`, else `sourceVersion` when it is a
    /// full commit SHA (CodeBuild leaves the resolved version out when the source download
    /// fails). `None` when the commit cannot be established — also when the service recorded
    /// a `resolvedSourceVersion` that is not a commit SHA (40 or 64 hex digits): text that
    /// is not a SHA is never taken for one (issue 20.4), and a recorded value that is not
    /// one does not fall back to the requested `sourceVersion`.
    pub fn commit(&self) -> Option<&str> {
        match self.resolved_source_version.as_deref() {
            Some(v) if !v.is_empty() => Some(v).filter(|v| is_full_sha(v)),
            _ => self.source_version.as_deref().filter(|v| is_full_sha(v)),
        }
    }

    /// `OWNER/REPO` when the source is a GitHub (or GitHub Enterprise) repository URL.
    pub fn github_repository(&self) -> Option<String> {
        github_repository_of(self.source_location.as_deref()?)
    }
}

/// `OWNER/REPO` of a source location `https://HOST/OWNER/REPO(.git)` (GitHub or GitHub
/// Enterprise).
pub fn github_repository_of(location: &str) -> Option<String> {
    let rest = location
        .strip_prefix("https://")
        .or_else(|| location.strip_prefix("http://"))?;
    let (_host, path) = rest.split_once('/')?;
    let path = path.trim_end_matches('/').trim_end_matches(".git");
    let mut parts = path.rsplitn(3, '/');
    let repo = parts.next()?;
    let owner = parts.next()?;
    (!owner.is_empty() && !repo.is_empty()).then(|| format!("{owner}/{repo}"))
}

/// The batch phase CodeBuild records for each retry: `FAILED` with status `RETRY` (the one
/// place this is spelled).
pub fn is_retry_marker(p: &Phase) -> bool {
    p.phase_type == "FAILED" && p.status.as_ref().is_some_and(|s| s.as_str() == "RETRY")
}

/// A full commit SHA: 40 hex digits (SHA-1) or 64 (SHA-256 repositories).
pub fn is_full_sha(text: &str) -> bool {
    matches!(text.len(), 40 | 64) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

pub use expensive::{Fetched, LogTail};

/// Everything the judgment needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    pub batch: Batch,
    /// Builds by id (`project:uuid`).
    pub builds: BTreeMap<String, Build>,
    /// Other batches of the project, for the per-commit budget.
    pub history: Vec<Batch>,
    /// The history walk stopped at its page cap before the look-back boundary: counts
    /// drawn from the history may be too low, and the report says so.
    pub history_truncated: bool,
    /// The moment of judgment: every time window (the daily project budget, the outage
    /// brake) ends here. The wall clock for `gate` and `reconcile`, `--now` for `explain`,
    /// the end of the judged attempt for `simulate`. `None`: the latest moment recorded in
    /// the facts ([`Facts::latest_recorded`]).
    pub now: Option<Timestamp>,
    /// Facts that cost a read, by build id: only those [`crate::decide::needs()`] asked for.
    /// A build missing here was not read; a rule that needs it does not match, and says so.
    pub logs: BTreeMap<String, Fetched<LogTail>>,
    /// GitHub's facts about the batch's commit (`branches`, `pull-request-bases`): each
    /// `None` when it was not read.
    pub github: github::GitHubFacts,
    /// Test reports and their failed cases, by report ARN (the builds name theirs in
    /// `report_arns`): read only for the builds `needs()` names, and for the history's flips
    /// a `known-flaky-days` rule learns from. A report missing here was not read.
    pub reports: reports::Reports,
}

impl Facts {
    /// The moment of judgment: [`Facts::now`], else the latest moment recorded.
    pub fn moment(&self) -> Option<Timestamp> {
        self.now.or_else(|| self.latest_recorded())
    }

    /// The latest moment recorded anywhere in the facts: a start, end or phase time of the
    /// batch, of a build, or of a batch of the history. Nothing recorded happened after it.
    pub fn latest_recorded(&self) -> Option<Timestamp> {
        let builds = self.builds.values().flat_map(Build::recorded_moments);
        std::iter::once(&self.batch)
            .chain(&self.history)
            .flat_map(Batch::recorded_moments)
            .chain(builds)
            .max()
    }

    pub fn build_of(&self, summary: &BuildSummary) -> Option<&Build> {
        self.builds.get(summary.build_id()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_repository_from_the_source_location() {
        let with = |location: &str| Batch {
            source_location: Some(location.to_string()),
            ..Batch::default()
        };
        assert_eq!(
            with("https://github.com/acme/web.git")
                .github_repository()
                .as_deref(),
            Some("acme/web")
        );
        assert_eq!(
            with("https://ghe.example.com/acme/web")
                .github_repository()
                .as_deref(),
            Some("acme/web")
        );
        assert_eq!(with("https://github.com/acme/").github_repository(), None);
        assert_eq!(with("s3://bucket/key.zip").github_repository(), None);
    }

    #[test]
    fn retries_are_the_larger_of_the_two_records() {
        let retry = Phase {
            phase_type: "FAILED".into(),
            status: Some(Status::Other("RETRY".into())),
            ..Phase::default()
        };
        let group = |prior: usize| Group {
            prior: vec![BuildSummary::default(); prior],
            ..Group::default()
        };
        let batch = Batch {
            phases: vec![retry.clone()],
            groups: vec![group(0), group(2)],
            ..Batch::default()
        };
        assert_eq!(batch.retries_recorded(), 2);
        assert!(batch.current_attempt_phases().is_empty());
    }
}
