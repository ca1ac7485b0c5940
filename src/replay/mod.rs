//! The replay behind `simulate`: a policy judged over a project's batch history. Every
//! failed attempt is judged as the gate would have seen it when that attempt ended — that
//! attempt's builds, the retries recorded so far, the project's other batches as they stood
//! then — by the same [`decide`], and set beside what really happened next.
//!
//! Pure: no clients, no clock, no environment. The command reads the batches (live or from
//! files) and renders the [`Replay`]; [`summary`] crosses its decisions with what happened.

pub mod compare;
pub mod suggest;
mod summary;

pub use compare::{Comparison, compare};
pub use summary::{Cost, Day, Missed, NO_RULE, RuleRow, TimeTotal, Totals, day_label, iso};

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap};

use serde::Serialize;

use crate::decide::{decide, flaky, needs};
use crate::decision::{Decision, DecisionCode, GroupVerdict, Outcome};
use crate::facts::github::GitHubFacts;
use crate::facts::reports::Reports;
use crate::facts::{Batch, Build, BuildSummary, Facts, Fetched, LogTail, Status, Timestamp};
use crate::history::{self, Attempt};
use crate::policy::{Policy, RetryType};

/// What happened after an attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Then {
    /// A retry followed (by a person, a bot or a gate) and the batch then succeeded.
    RetriedThenSucceeded,
    /// A retry followed and that attempt failed too (or was stopped).
    RetriedThenFailed,
    /// A retry followed and that attempt had not ended when the history was read.
    RetriedStillRunning,
    /// Nobody retried the batch after this failure.
    NotRetried,
}

impl Then {
    pub fn as_str(self) -> &'static str {
        match self {
            Then::RetriedThenSucceeded => "retried-then-succeeded",
            Then::RetriedThenFailed => "retried-then-failed",
            Then::RetriedStillRunning => "retried-still-running",
            Then::NotRetried => "not-retried",
        }
    }

    pub fn retried(self) -> bool {
        self != Then::NotRetried
    }
}

/// Which batches are replayed: those that started within `[since, until]` (an absent bound
/// is open). Every batch given, in the window or not, is history for the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

impl Window {
    /// Whether a batch that started at `start` is replayed. A batch without a start time is.
    pub fn contains(&self, start: Option<Timestamp>) -> bool {
        let Some(start) = start else {
            return true;
        };
        self.since.is_none_or(|s| start >= s) && self.until.is_none_or(|u| start <= u)
    }
}

/// Build time of some builds, from their start and end times.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BuildTime {
    /// Builds counted.
    pub builds: u32,
    pub millis: u64,
    /// Builds whose time is unknown: not read, or without a start or an end (still running).
    pub unknown: u32,
}

impl BuildTime {
    fn of<'a>(
        summaries: impl IntoIterator<Item = &'a BuildSummary>,
        builds: &BTreeMap<String, Build>,
    ) -> BuildTime {
        let mut out = BuildTime::default();
        for s in summaries {
            let build = s.build_id().and_then(|id| builds.get(id));
            match build.and_then(|b| Some((b.start_time?, b.end_time?))) {
                Some((start, end)) => {
                    out.builds = out.builds.saturating_add(1);
                    out.millis = out
                        .millis
                        .saturating_add(u64::try_from(end.0.saturating_sub(start.0)).unwrap_or(0));
                }
                None => out.unknown = out.unknown.saturating_add(1),
            }
        }
        out
    }

    pub fn add(&mut self, other: BuildTime) {
        self.builds += other.builds;
        self.millis += other.millis;
        self.unknown += other.unknown;
    }

    /// Tenths of a minute, rounded to the nearest (half up).
    pub fn tenths(&self) -> u64 {
        self.millis.saturating_add(3_000) / 6_000
    }

    pub fn minutes(&self) -> f64 {
        self.tenths() as f64 / 10.0
    }
}

/// Where the cost of a `retry` decision comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// A retry really followed: what its builds took.
    Observed,
    /// Nobody retried: for each group a retry would rerun (those that did not succeed with
    /// `retry-type: failed-builds`, all with `all-builds`), the median time of that group's
    /// successful builds in the history read, else what its failed build took.
    Estimated,
}

/// One failed attempt, judged.
#[derive(Debug, Clone)]
pub struct Judged {
    pub batch_id: String,
    pub project: String,
    /// 1-based.
    pub attempt: u32,
    pub commit: Option<String>,
    /// When the attempt ended (the moment it was judged at).
    pub ended_at: Option<Timestamp>,
    pub decision: Decision,
    pub then: Then,
    /// What the retry that really followed cost (when one did).
    pub real_retry: Option<BuildTime>,
    /// What the retry of a `retry` decision cost or would have cost.
    pub policy_retry: Option<(BuildTime, Basis)>,
}

impl Judged {
    /// The rule the decision rests on: for a refusal, that of the failure it is blamed on
    /// (none when no rule matched it); else that of the first root failure.
    pub fn rule(&self) -> Option<&str> {
        let d = &self.decision;
        match d.blamed() {
            Some(g) => g.rule.as_ref().map(|r| r.name.as_str()),
            None => d
                .groups
                .iter()
                .filter(|g| g.code.is_root_failure())
                .find_map(|g| g.rule.as_ref())
                .map(|r| r.name.as_str()),
        }
    }

    /// The gate would refuse only because a fact it needed could not be read (a test report
    /// expired or not found, a log past its retention, GitHub unreadable): the attempt is
    /// counted as "could not judge", never as a refusal.
    pub fn could_not_judge(&self) -> bool {
        self.decision.decision == Outcome::Refuse
            && self.decision.code == DecisionCode::CouldNotJudge
    }

    /// The root failure shown for this attempt: the blamed one, else the first.
    pub fn failure(&self) -> Option<&GroupVerdict> {
        self.decision.blamed().or_else(|| {
            self.decision
                .groups
                .iter()
                .find(|g| g.code.is_root_failure())
        })
    }
}

/// A policy replayed over a history.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Where the policy came from.
    pub policy: String,
    /// The projects whose batches were given.
    pub projects: Vec<String>,
    pub window: Window,
    /// Batches that started in the window.
    pub batches: usize,
    /// Of those, batches whose last attempt had not ended.
    pub running: usize,
    /// Batches read in all (the window and the look-back before it).
    pub read: usize,
    /// The live read stopped at its page cap: the oldest batches, and counts drawn from
    /// them, may be missing.
    pub history_truncated: bool,
    /// Every failed attempt of the window's batches, by the time it ended.
    pub attempts: Vec<Judged>,
    /// With `simulate --compare OLD`: how this policy's decisions differ from OLD's.
    pub comparison: Option<Comparison>,
    /// Rules that would have caught the refusals a hand retry fixed, where their failed
    /// tests or a log line repeat ([`suggest`]); filled by the command from what it read.
    pub suggestions: Vec<suggest::Suggestion>,
    /// What the command warns the reader about (e.g. rules that need builds not given, logs
    /// that could not be read).
    pub warnings: Vec<String>,
}

/// Replays `policy` over `batches` (any order, several projects allowed; a batch given twice
/// counts once, the later copy winning). `builds` are the builds read, by id.
pub fn replay(
    policy: &Policy,
    batches: Vec<Batch>,
    builds: &BTreeMap<String, Build>,
    window: Window,
    history_truncated: bool,
) -> Replay {
    replay_with_github(
        policy,
        batches,
        builds,
        &GitHubByCommit::new(),
        window,
        history_truncated,
    )
}

/// GitHub's facts about commits (`branches`, `pull-request-bases`), by commit SHA in lower
/// case. A commit that is not here was not read: rules that need its facts cannot be judged.
pub type GitHubByCommit = BTreeMap<String, GitHubFacts>;

/// [`replay`], with GitHub's facts about the batches' commits (read once per commit, live,
/// or from `--github FILE`), as they are now: GitHub keeps no history of them.
pub fn replay_with_github(
    policy: &Policy,
    batches: Vec<Batch>,
    builds: &BTreeMap<String, Build>,
    github: &GitHubByCommit,
    window: Window,
    history_truncated: bool,
) -> Replay {
    let reads = Reads {
        github: github.clone(),
        ..Reads::default()
    };
    replay_with(policy, batches, builds, &reads, window, history_truncated)
}

/// The facts that cost a read, as a replay was given them (live: read as it replays;
/// offline: `--logs DIR`, `--reports FILE`, `--test-cases FILE`, `--github FILE`).
#[derive(Debug, Clone, Default)]
pub struct Reads {
    /// GitHub's facts about commits, as they are now.
    pub github: GitHubByCommit,
    /// Logs by build id (`project:uuid`); a build missing here was not read.
    pub logs: BTreeMap<String, Fetched<LogTail>>,
    /// Test reports and their failed cases, by report ARN.
    pub reports: Reports,
}

/// [`replay`] with every fact that costs a read that was read: each attempt sees the logs,
/// the test reports and GitHub's facts of its own builds and commit (and, for
/// `known-flaky-days`, the builds and reports of the flips before it). An attempt whose
/// rule needs a fact that is missing or unreadable is judged `could-not-judge`.
pub fn replay_with(
    policy: &Policy,
    batches: Vec<Batch>,
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
    window: Window,
    history_truncated: bool,
) -> Replay {
    let mut unique: HashMap<String, Batch> = HashMap::with_capacity(batches.len());
    for b in batches {
        unique.insert(b.id.clone(), b);
    }
    let read = unique.len();
    let mut projects: BTreeMap<String, Vec<Batch>> = BTreeMap::new();
    for b in unique.into_values() {
        projects.entry(b.project.clone()).or_default().push(b);
    }
    let mut out = Replay {
        policy: policy.source.clone(),
        projects: projects.keys().cloned().collect(),
        window,
        batches: 0,
        running: 0,
        read,
        history_truncated,
        attempts: Vec::new(),
        comparison: None,
        suggestions: Vec::new(),
        warnings: Vec::new(),
    };
    for (_, mut list) in projects {
        list.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
        replay_project(policy, &list, builds, reads, &mut out);
    }
    out.attempts.sort_by(|a, b| {
        (a.ended_at, &a.batch_id, a.attempt).cmp(&(b.ended_at, &b.batch_id, b.attempt))
    });
    out
}

/// The builds a replay of `batches` needs, ids in order without repeats: every build of each
/// batch in the window that has a failed attempt (for the judgment and for build time).
/// Batches that never failed need none.
pub fn builds_needed<'a>(
    batches: impl IntoIterator<Item = &'a Batch>,
    window: &Window,
) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut ids = Vec::new();
    for b in batches {
        if !window.contains(b.start_time) || !history::attempts(b).iter().any(|a| a.failed(b)) {
            continue;
        }
        for g in &b.groups {
            for s in g.prior.iter().chain(&g.current) {
                if let Some(id) = s.build_id()
                    && seen.insert(id)
                {
                    ids.push(id.to_string());
                }
            }
        }
    }
    ids
}

/// One failed attempt to judge: when it ended, which batch, which attempt.
struct Due {
    at: Timestamp,
    batch: usize,
    attempt: usize,
}

/// The failed attempts of the window's batches, by the time they ended; and how many
/// batches started in the window and how many of those were still running.
fn due(batches: &[Batch], attempts: &[Vec<Attempt>], window: &Window) -> (Vec<Due>, usize, usize) {
    let (mut replayed, mut running) = (0, 0);
    let mut due = Vec::new();
    for (i, (b, list)) in batches.iter().zip(attempts).enumerate() {
        if !window.contains(b.start_time) {
            continue;
        }
        replayed += 1;
        if list
            .last()
            .is_some_and(|a| !a.failed(b) && a.ended.is_none())
        {
            running += 1;
        }
        for (k, a) in list.iter().enumerate() {
            if a.failed(b) {
                // No recorded end: judged against the history as it stands at the end.
                let at = a.ended.unwrap_or(Timestamp(i64::MAX));
                due.push(Due {
                    at,
                    batch: i,
                    attempt: k,
                });
            }
        }
    }
    due.sort_by_key(|d| (d.at, d.batch, d.attempt));
    (due, replayed, running)
}

/// Walks the failed attempts of the window's batches of one project (sorted by start), in
/// the order they ended, and hands each to `visit` with the facts the gate would have had
/// when it ended: that attempt's builds, the project's batches as they stood then, the
/// facts that cost a read of its builds and commit, and `now` at its end.
fn walk(
    policy: &Policy,
    batches: &[Batch],
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
    due: Vec<Due>,
    attempts: &[Vec<Attempt>],
    mut visit: impl FnMut(&Facts, &Due),
) {
    let flaky_days = policy
        .rules
        .iter()
        .filter_map(|r| r.tests.as_ref()?.known_flaky_days)
        .max();
    let has_log_rules = policy.rules.iter().any(|r| r.log.is_some());
    let mut timeline = Timeline::new(batches);
    // A cut read is reported once for the whole replay (`history_truncated`), not turned into
    // `history-incomplete` refusals: the gate at each attempt would have read its own
    // history, not this read's.
    let mut facts = Facts::default();
    for d in due {
        let batch = &batches[d.batch];
        let attempt = &attempts[d.batch][d.attempt];
        timeline.advance(d.at, batches, &mut facts.history);
        let Some(judged) = history::at_attempt(batch, attempt.number) else {
            continue;
        };
        facts.builds = judged_builds(&judged, builds);
        facts.github = judged
            .commit()
            .and_then(|c| reads.github.get(&c.to_ascii_lowercase()))
            .cloned()
            .unwrap_or_default();
        facts.batch = judged;
        // The moment of judgment: the end of the judged attempt (without a recorded end,
        // the latest moment recorded).
        facts.now = attempt.ended;
        // The batch itself is not its own history: out for this judgment, then back.
        let own = timeline.position(d.batch);
        let saved = own.map(|p| facts.history.swap_remove(p));
        if let Some(days) = flaky_days {
            // The builds a `known-flaky-days` rule learns from, as the gate reads them.
            for id in flip_builds(&facts, days) {
                if let Some(b) = builds.get(&id) {
                    facts.builds.insert(id, b.clone());
                }
            }
        }
        facts.logs = facts
            .builds
            .keys()
            .filter_map(|id| Some((id.clone(), reads.logs.get(id)?.clone())))
            .collect();
        if has_log_rules {
            // As the gate: at most ten builds' logs for one decision.
            let wanted = needs(policy, &facts).logs;
            facts
                .logs
                .extend(crate::facts::expensive::logs_over_the_cap(&wanted));
        }
        facts.reports = reports_of(facts.builds.values(), &reads.reports);
        visit(&facts, &d);
        if let (Some(p), Some(b)) = (own, saved) {
            facts.history.push(b);
            let last = facts.history.len() - 1;
            facts.history.swap(p, last);
        }
    }
}

/// The failed builds of the flips a `known-flaky-days` rule of `days` learns from for the
/// failed groups of `facts.batch` (the gate's live step reads the same).
fn flip_builds(facts: &Facts, days: u32) -> std::collections::BTreeSet<String> {
    let now = facts.moment();
    facts
        .batch
        .groups
        .iter()
        .filter(|g| g.status().is_some_and(|s| s.is_failure()))
        .flat_map(|g| flaky::evidence(facts, Some(&g.identifier), days, now))
        .map(|f| f.build_id)
        .collect()
}

/// The reports (and failed cases) of `builds` among those read.
fn reports_of<'a>(builds: impl IntoIterator<Item = &'a Build>, read: &Reports) -> Reports {
    let mut out = Reports::default();
    for arn in builds.into_iter().flat_map(|b| &b.report_arns) {
        if let Some(r) = read.reports.get(arn) {
            out.reports.insert(arn.clone(), r.clone());
        }
        if let Some(c) = read.failed_cases.get(arn) {
            out.failed_cases.insert(arn.clone(), c.clone());
        }
    }
    out
}

/// The facts that cost a read that a replay of `batches` could use (see [`needs()`]): at
/// each failed attempt of the window, the logs and test reports its judgment could use, and
/// the builds of the flips a `known-flaky-days` rule learns from. Live, `simulate` reads
/// exactly these (each once) before it replays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayNeeds {
    /// Build id → bytes of the log's end.
    pub logs: BTreeMap<String, usize>,
    /// Builds whose test reports could change a decision (flips' failed builds included).
    pub reports: std::collections::BTreeSet<String>,
}

/// What [`replay_with`] of `policy` over `batches` could read (see [`ReplayNeeds`]).
/// `reads` carries GitHub's facts, which decide whether a rule gets as far as its log or
/// tests.
pub fn replay_needs(
    policy: &Policy,
    batches: Vec<Batch>,
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
    window: Window,
) -> ReplayNeeds {
    let mut out = ReplayNeeds::default();
    if !policy
        .rules
        .iter()
        .any(|r| r.log.is_some() || r.tests.is_some())
    {
        return out;
    }
    let flaky_days = policy
        .rules
        .iter()
        .filter_map(|r| r.tests.as_ref()?.known_flaky_days)
        .max();
    for list in by_project(batches) {
        let attempts: Vec<Vec<Attempt>> = list.iter().map(history::attempts).collect();
        let (due, _, _) = due(&list, &attempts, &window);
        walk(policy, &list, builds, reads, due, &attempts, |facts, _| {
            let wanted = needs(policy, facts);
            for (id, bytes) in wanted.logs {
                let entry = out.logs.entry(id).or_default();
                *entry = (*entry).max(bytes);
            }
            if wanted.reports.is_empty() {
                return;
            }
            out.reports.extend(wanted.reports.iter().cloned());
            if let Some(days) = flaky_days {
                out.reports.extend(flip_builds(facts, days));
            }
        });
    }
    out
}

/// The batches by project (a batch given twice counts once, the later copy winning), each
/// project's sorted by start.
fn by_project(batches: Vec<Batch>) -> Vec<Vec<Batch>> {
    let mut unique: HashMap<String, Batch> = HashMap::with_capacity(batches.len());
    for b in batches {
        unique.insert(b.id.clone(), b);
    }
    let mut projects: BTreeMap<String, Vec<Batch>> = BTreeMap::new();
    for b in unique.into_values() {
        projects.entry(b.project.clone()).or_default().push(b);
    }
    projects
        .into_values()
        .map(|mut list| {
            list.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
            list
        })
        .collect()
}

fn replay_project(
    policy: &Policy,
    batches: &[Batch],
    builds: &BTreeMap<String, Build>,
    reads: &Reads,
    out: &mut Replay,
) {
    let attempts: Vec<Vec<Attempt>> = batches.iter().map(history::attempts).collect();
    let (due, replayed, running) = due(batches, &attempts, &out.window);
    out.batches += replayed;
    out.running += running;
    let typical = typical_times(batches, builds);
    let mut judged = Vec::new();
    walk(
        policy,
        batches,
        builds,
        reads,
        due,
        &attempts,
        |facts, d| {
            let batch = &batches[d.batch];
            let list = &attempts[d.batch];
            let attempt = &list[d.attempt];
            let decision = decide(policy, facts);
            let next = list.get(d.attempt + 1);
            let then = match next {
                None => Then::NotRetried,
                Some(n) if n.failed(batch) => Then::RetriedThenFailed,
                Some(n) if n.ended.is_none() || !batch.complete => Then::RetriedStillRunning,
                Some(n) if n.status == Some(Status::Succeeded) => Then::RetriedThenSucceeded,
                Some(_) => Then::RetriedThenFailed,
            };
            let real_retry = next.map(|n| BuildTime::of(history::requested_in(batch, n), builds));
            let policy_retry = (decision.decision == Outcome::Retry).then(|| match real_retry {
                Some(cost) => (cost, Basis::Observed),
                None => (
                    estimate(policy, &facts.batch, builds, &typical),
                    Basis::Estimated,
                ),
            });
            judged.push(Judged {
                batch_id: batch.id.clone(),
                project: batch.project.clone(),
                attempt: attempt.number,
                commit: batch.commit().map(str::to_string),
                ended_at: attempt.ended,
                decision,
                then,
                real_retry,
                policy_retry,
            });
        },
    );
    out.attempts.extend(judged);
}

/// What a retry of a failed attempt would have cost, when nobody retried: for each group a
/// retry reruns (those that did not succeed with `retry-type: failed-builds`; all with
/// `all-builds`), the typical time of that group's successful builds in the history read
/// (a retry that works runs to the end), else what its failed build took.
fn estimate(
    policy: &Policy,
    batch: &Batch,
    builds: &BTreeMap<String, Build>,
    typical: &HashMap<String, u64>,
) -> BuildTime {
    let mut out = BuildTime::default();
    for g in &batch.groups {
        let Some(s) = g.current.as_ref() else {
            continue;
        };
        if policy.retry_type != RetryType::AllBuilds && s.status == Some(Status::Succeeded) {
            continue;
        }
        match typical.get(&g.identifier) {
            Some(&millis) => {
                out.builds += 1;
                out.millis += millis;
            }
            None => out.add(BuildTime::of([s], builds)),
        }
    }
    out
}

/// The median time of each group's SUCCEEDED builds among the builds read.
fn typical_times(batches: &[Batch], builds: &BTreeMap<String, Build>) -> HashMap<String, u64> {
    let mut times: HashMap<&str, Vec<u64>> = HashMap::new();
    for b in batches {
        for g in &b.groups {
            for s in g.prior.iter().chain(&g.current) {
                let Some(build) = s.build_id().and_then(|id| builds.get(id)) else {
                    continue;
                };
                if let (Some(Status::Succeeded), Some(start), Some(end)) =
                    (&build.status, build.start_time, build.end_time)
                {
                    let millis = u64::try_from(end.0.saturating_sub(start.0)).unwrap_or(0);
                    times.entry(g.identifier.as_str()).or_default().push(millis);
                }
            }
        }
    }
    times
        .into_iter()
        .map(|(group, mut list)| {
            list.sort_unstable();
            (group.to_string(), list[list.len() / 2])
        })
        .collect()
}

/// The builds the live gate reads for a failed batch: the current builds of its groups that
/// failed and count (not `ignoreFailure`), when they were read.
fn judged_builds(batch: &Batch, builds: &BTreeMap<String, Build>) -> BTreeMap<String, Build> {
    batch
        .groups
        .iter()
        .filter(|g| !g.ignore_failure && g.status().is_some_and(|s| s.is_failure()))
        .filter_map(|g| g.current.as_ref()?.build_id())
        .filter_map(|id| Some((id.to_string(), builds.get(id)?.clone())))
        .collect()
}

/// The project's batches as they stood at a moment that only moves forward: each batch is
/// sliced again ([`history::as_of`]) only when one of its own moments has passed, so a
/// replay costs about one slice per batch and judged moment it changed in, not one per
/// batch and judged attempt.
struct Timeline {
    /// Each batch's moments ([`history::moments`]).
    moments: Vec<Vec<Timestamp>>,
    /// Next moment of each batch still to come, earliest first.
    queue: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// Where each batch sits in the history, once it has started.
    positions: Vec<Option<usize>>,
}

impl Timeline {
    fn new(batches: &[Batch]) -> Timeline {
        let moments: Vec<Vec<Timestamp>> = batches.iter().map(history::moments).collect();
        let queue = batches
            .iter()
            .enumerate()
            .map(|(i, b)| Reverse((b.start_time.unwrap_or(Timestamp(i64::MIN)), i)))
            .collect();
        Timeline {
            positions: vec![None; batches.len()],
            moments,
            queue,
        }
    }

    fn position(&self, batch: usize) -> Option<usize> {
        self.positions[batch]
    }

    /// Brings `history` to moment `t`.
    fn advance(&mut self, t: Timestamp, batches: &[Batch], history: &mut Vec<Batch>) {
        while let Some(&Reverse((at, i))) = self.queue.peek() {
            if at > t {
                break;
            }
            self.queue.pop();
            if let Some(state) = history::as_of(&batches[i], t) {
                match self.positions[i] {
                    Some(p) => history[p] = state,
                    None => {
                        self.positions[i] = Some(history.len());
                        history.push(state);
                    }
                }
            }
            let moments = &self.moments[i];
            let next = moments.partition_point(|m| *m <= t);
            if let Some(&m) = moments.get(next) {
                self.queue.push(Reverse((m, i)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::BuildTime;
    use crate::facts::{Build, BuildSummary, Timestamp};

    /// Issue 20.4: build times from a capture can be anything; their sum saturates instead
    /// of overflowing (a panic, and an abort in the release binary).
    #[test]
    fn build_time_sums_saturate_on_extreme_times() {
        let mut builds = BTreeMap::new();
        let mut summaries = Vec::new();
        for n in 0..4 {
            let id = format!("p:{n}");
            builds.insert(
                id.clone(),
                Build {
                    id: id.clone(),
                    start_time: Some(Timestamp(i64::MIN)),
                    end_time: Some(Timestamp(i64::MAX)),
                    ..Build::default()
                },
            );
            summaries.push(BuildSummary {
                arn: Some(format!("arn:aws:codebuild:us-east-1:1:build/{id}")),
                ..BuildSummary::default()
            });
        }
        let t = BuildTime::of(&summaries, &builds);
        assert_eq!(t.builds, 4);
        assert_eq!(t.millis, u64::MAX);
        assert_eq!(t.tenths(), u64::MAX / 6_000);
        // Backwards times count nothing.
        let b = builds.get_mut("p:0").unwrap();
        b.start_time = Some(Timestamp(i64::MAX));
        b.end_time = Some(Timestamp(i64::MIN));
        assert_eq!(BuildTime::of(&summaries[..1], &builds).millis, 0);
    }
}
