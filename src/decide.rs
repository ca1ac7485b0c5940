//! The judgment: a pure function of (policy, facts). No clients, no clock, no environment.

use std::collections::{BTreeSet, HashMap};

use crate::decision::{
    BATCH_ITSELF, BudgetReport, ContextView, Decision, DecisionCode, Figure, GroupVerdict,
    OutageReport, Outcome, RuleRef, VerdictCode, blamed,
};
use crate::facts::{Batch, Context, Facts, Group, Phase, Status, Timestamp};
use crate::policy::{Action, Policy, Rule};

/// The internal group CodeBuild adds to a batch to fetch the source; every other group
/// needs it, whether or not it lists it in `dependsOn`.
pub const SOURCE_GROUP: &str = "DOWNLOAD_SOURCE";

const MINUTE_MS: i64 = 60 * 1000;
const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Decides what to do about `facts.batch` under `policy`.
pub fn decide(policy: &Policy, facts: &Facts) -> Decision {
    let batch = &facts.batch;
    let (per_commit_used, commit_batches) = commit_retries(policy, facts);
    let per_batch = Figure::new(batch.retries_recorded(), policy.budget.per_batch);
    let per_commit = Figure::new(per_commit_used, policy.budget.per_commit);
    let per_project_per_day = policy
        .budget
        .per_project_per_day
        .map(|limit| Figure::new(project_retries_in_a_day(facts), limit));
    let outage = policy.outage.map(|o| {
        let failed = other_failures(facts, i64::from(o.within_minutes) * MINUTE_MS);
        OutageReport {
            failed_batches: failed,
            threshold: o.failed_batches,
            within_minutes: o.within_minutes,
            braking: failed >= o.failed_batches,
        }
    });
    let limits = Limits {
        per_batch,
        per_commit,
        per_project_per_day,
        outage,
    };
    let project_covered = policy
        .rules
        .iter()
        .any(|r| r.covers_project(&batch.project));

    let mut groups = classify_groups(batch, facts);
    let mut judge = Judge {
        policy,
        facts,
        batch,
        project_covered,
        retries_used: per_batch.used,
        caps: Vec::new(),
    };

    let (outcome, code) = match batch.status.as_ref() {
        Some(s) if s.is_failure() => judge.failed_batch(&mut groups, &limits),
        other => {
            let shown = other.map_or("(missing)", |s| s.as_str());
            not_judged(&mut groups, &format!("while the batch is {shown}"));
            match other {
                Some(Status::Succeeded) => (Outcome::Pass, DecisionCode::BatchSucceeded),
                Some(Status::InProgress) => (Outcome::Wait, DecisionCode::BatchInProgress),
                _ => (Outcome::Refuse, DecisionCode::UnknownBatchStatus),
            }
        }
    };

    let rule_cap = judge.caps.iter().copied().min();
    let mut remaining = per_batch.remaining.min(per_commit.remaining);
    if let Some(day) = per_project_per_day {
        remaining = remaining.min(day.remaining);
    }
    if let Some(cap) = rule_cap {
        remaining = remaining.min(cap.saturating_sub(per_batch.used));
    }
    let attempt_limit = per_batch.used + remaining;
    let attempt = (outcome == Outcome::Retry).then_some(per_batch.used + 1);
    let budget = BudgetReport {
        per_batch,
        per_commit,
        commit_batches,
        commit_known: batch.commit().is_some(),
        history_incomplete: facts.history_truncated,
        per_project_per_day,
        outage,
        lookback_days: policy.budget.lookback_days,
        rule_cap,
        remaining,
    };
    let reason = reason(code, batch, &groups, &budget, attempt, attempt_limit);
    Decision {
        decision: outcome,
        code,
        reason,
        batch_id: batch.id.clone(),
        batch_arn: batch.arn.clone(),
        project: batch.project.clone(),
        commit: batch.commit().map(str::to_string),
        batch_status: batch.status.as_ref().map(|s| s.to_string()),
        policy: policy.source.clone(),
        context: policy.context_for(&batch.project),
        retry_type: policy.retry_type.api_value(),
        attempt,
        attempt_limit,
        groups,
        budget,
    }
}

/// The figures the batch-level limits are checked against.
struct Limits {
    per_batch: Figure,
    per_commit: Figure,
    per_project_per_day: Option<Figure>,
    outage: Option<OutageReport>,
}

/// Whether `at` lies in the `window_ms` before `now`. An unknown time (or an unknown `now`)
/// counts: a limit is never loosened by a gap in the record.
fn within(at: Option<Timestamp>, now: Option<Timestamp>, window_ms: i64) -> bool {
    match (at, now) {
        (Some(at), Some(now)) => at.0 <= now.0 && at.0 > now.0.saturating_sub(window_ms),
        _ => true,
    }
}

/// Retries of every batch of the project (this one included, any commit) made in the 24
/// hours before the judged failure, by the times of CodeBuild's retry markers.
fn project_retries_in_a_day(facts: &Facts) -> u32 {
    let batch = &facts.batch;
    let now = batch.judged_at();
    let mut seen = BTreeSet::new();
    let count = std::iter::once(batch)
        .chain(facts.history.iter().filter(|b| b.project == batch.project))
        .filter(|b| seen.insert(b.id.as_str()))
        .flat_map(Batch::retry_times)
        .filter(|&at| within(at, now, DAY_MS))
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Other batches of the project, on other commits, that ended in failure (an attempt that
/// ended FAILED, FAULT or TIMED_OUT) within `window_ms` before the judged failure.
fn other_failures(facts: &Facts, window_ms: i64) -> u32 {
    let batch = &facts.batch;
    let now = batch.judged_at();
    let commit = batch.commit();
    let mut seen = BTreeSet::from([batch.id.as_str()]);
    let count = facts
        .history
        .iter()
        .filter(|b| b.project == batch.project)
        .filter(|b| commit.is_none() || b.commit() != commit)
        .filter(|b| seen.insert(b.id.as_str()))
        .filter(|b| {
            b.failure_times()
                .into_iter()
                .any(|at| within(at, now, window_ms))
        })
        .count();
    u32::try_from(count).unwrap_or(u32::MAX)
}

/// Failed groups of a batch that is not judged are shown as such, not as refusals.
fn not_judged(groups: &mut [GroupVerdict], why: &str) {
    for g in groups
        .iter_mut()
        .filter(|g| g.code == VerdictCode::NoMatchingRule || g.code == VerdictCode::UnknownStatus)
    {
        g.detail = match g.code {
            VerdictCode::UnknownStatus => format!(
                "status `{}` is not one the gate knows; not judged {why}",
                g.status.as_deref().unwrap_or_default()
            ),
            _ => format!("failed; not judged {why}"),
        };
        g.code = VerdictCode::NotJudged;
        g.verdict = g.code.verdict();
    }
}

/// Retries already made on this commit of this project, within the look-back, counting this
/// batch; and how many batches that covers. Batches without a start time are counted (fail
/// closed); a batch whose commit is unknown is counted alone.
fn commit_retries(policy: &Policy, facts: &Facts) -> (u32, usize) {
    let batch = &facts.batch;
    let mut total = batch.retries_recorded();
    let mut counted = 1;
    let Some(commit) = batch.commit() else {
        return (total, counted);
    };
    let window = i64::from(policy.budget.lookback_days) * DAY_MS;
    let mut seen = BTreeSet::from([batch.id.as_str()]);
    for other in &facts.history {
        let same = other.project == batch.project && other.commit() == Some(commit);
        let recent = match (batch.start_time, other.start_time) {
            (Some(now), Some(then)) => then.0 >= now.0.saturating_sub(window),
            _ => true,
        };
        if same && recent && seen.insert(other.id.as_str()) {
            total = total.saturating_add(other.retries_recorded());
            counted += 1;
        }
    }
    (total, counted)
}

/// A first verdict for every group from its own status, its dependencies and (in a FAILED
/// batch) the moments its other groups failed; root failures are left as
/// [`VerdictCode::NoMatchingRule`] until the rules are applied.
fn classify_groups(batch: &Batch, facts: &Facts) -> Vec<GroupVerdict> {
    let by_id: HashMap<&str, &Group> = batch
        .groups
        .iter()
        .map(|g| (g.identifier.as_str(), g))
        .collect();
    let stops = Stops {
        by_id,
        failures: if batch.status == Some(Status::Failed) {
            failure_moments(batch, facts)
        } else {
            Vec::new()
        },
        facts,
    };
    batch
        .groups
        .iter()
        .map(|group| {
            let status = group.status();
            let summary = group.current.as_ref();
            let build = summary.and_then(|s| facts.build_of(s));
            let failed = build.and_then(|b| failed_phase(&b.phases));
            let (code, detail) = match status {
                None => (VerdictCode::NotStarted, "no build has started".to_string()),
                Some(s) if s.is_unfinished() && *s != Status::InProgress => (
                    VerdictCode::NotStarted,
                    format!("waiting for the groups it depends on ({s})"),
                ),
                Some(Status::Succeeded) => (VerdictCode::Succeeded, "succeeded".to_string()),
                Some(Status::InProgress) => (VerdictCode::InProgress, "still running".to_string()),
                Some(Status::Other(text)) => (
                    VerdictCode::UnknownStatus,
                    format!("status `{text}` is not one the gate knows; no rule can allow it"),
                ),
                Some(_) if group.ignore_failure => (
                    VerdictCode::IgnoredFailure,
                    "failed, but the batch ignores this group's failures (ignoreFailure)"
                        .to_string(),
                ),
                Some(Status::Stopped) => match stops.cause(group) {
                    Some((_, detail)) => (VerdictCode::Collateral, detail),
                    None => (VerdictCode::NoMatchingRule, String::new()),
                },
                Some(_) => (VerdictCode::NoMatchingRule, String::new()),
            };
            let judged = code == VerdictCode::NoMatchingRule;
            GroupVerdict {
                group: group.identifier.clone(),
                status: status.map(|s| s.to_string()),
                build_id: summary.and_then(|s| s.build_id()).map(str::to_string),
                failed_phase: if judged {
                    failed.map(|p| p.phase_type.clone())
                } else {
                    None
                },
                contexts: if judged {
                    failed
                        .map(|p| {
                            meaningful_contexts(p)
                                .into_iter()
                                .map(ContextView::from)
                                .collect()
                        })
                        .unwrap_or_default()
                } else {
                    Vec::new()
                },
                rule: None,
                verdict: code.verdict(),
                code,
                detail,
            }
        })
        .collect()
}

/// When each root failure of the batch happened: the end of its build's failed phase (else
/// the end of the build), for FAILED, FAULT and TIMED_OUT groups that count. Earliest first.
fn failure_moments<'a>(batch: &'a Batch, facts: &Facts) -> Vec<(Timestamp, &'a str)> {
    let mut moments: Vec<(Timestamp, &str)> = batch
        .groups
        .iter()
        .filter(|g| !g.ignore_failure)
        .filter(|g| {
            matches!(
                g.status(),
                Some(Status::Failed | Status::Fault | Status::TimedOut)
            )
        })
        .filter_map(|g| {
            let build = facts.build_of(g.current.as_ref()?)?;
            let at = failed_phase(&build.phases)
                .and_then(|p| p.end_time)
                .or_else(|| build.ended_at())?;
            Some((at, g.identifier.as_str()))
        })
        .collect();
    moments.sort();
    moments
}

/// Why STOPPED groups were stopped.
struct Stops<'a> {
    by_id: HashMap<&'a str, &'a Group>,
    /// Root failures of a FAILED batch, earliest first (empty in any other batch).
    failures: Vec<(Timestamp, &'a str)>,
    facts: &'a Facts,
}

/// What stopped a STOPPED group.
enum Stop<'a> {
    /// Nothing the gate can see: a root failure.
    Root,
    /// Only a group that (through its own dependencies) depends on this one: a cycle, which
    /// explains nothing; a root failure too.
    Cycle,
    /// The root failure it is collateral of, and a sentence saying how.
    Collateral(&'a str, String),
}

impl<'a> Stops<'a> {
    /// The root failure a STOPPED group is collateral of, with a sentence saying how; `None`
    /// when it is a root failure itself.
    fn cause(&self, group: &'a Group) -> Option<(&'a str, String)> {
        match self.stop(group, &mut Vec::new()) {
            Stop::Collateral(root, detail) => Some((root, detail)),
            Stop::Root | Stop::Cycle => None,
        }
    }

    /// - A group it depends on (or the implicit source group) failed or was stopped: CodeBuild
    ///   stops the groups that depend on it. A stopped dependency passes on its own cause,
    ///   or is the root itself.
    /// - In a FAILED batch, its build ended at or after a root failure happened: the batch's
    ///   `fast-fail` stopped it. A build that ended before any failure stays a root.
    fn stop(&self, group: &'a Group, path: &mut Vec<&'a str>) -> Stop<'a> {
        if path.contains(&group.identifier.as_str()) {
            return Stop::Cycle;
        }
        path.push(group.identifier.as_str());
        let found = self.stop_inner(group, path);
        path.pop();
        found
    }

    fn stop_inner(&self, group: &'a Group, path: &mut Vec<&'a str>) -> Stop<'a> {
        let mut cyclic = false;
        let implicit = (group.identifier != SOURCE_GROUP).then_some(SOURCE_GROUP);
        for dep in group.depends_on.iter().map(String::as_str).chain(implicit) {
            let Some(d) = self.by_id.get(dep).copied() else {
                continue;
            };
            if d.ignore_failure {
                continue;
            }
            match d.status() {
                Some(Status::Stopped) => {
                    let root = match self.stop(d, path) {
                        Stop::Cycle => {
                            cyclic = true;
                            continue;
                        }
                        Stop::Root => d.identifier.as_str(),
                        Stop::Collateral(root, _) => root,
                    };
                    return Stop::Collateral(
                        root,
                        format!(
                            "stopped because `{dep}`, which it depends on, was stopped; judged by `{root}`"
                        ),
                    );
                }
                Some(s) if s.is_failure() => {
                    return Stop::Collateral(
                        d.identifier.as_str(),
                        format!(
                            "stopped because `{dep}`, which it depends on, failed; judged by `{dep}`"
                        ),
                    );
                }
                _ => {}
            }
        }
        let fast_fail = group
            .current
            .as_ref()
            .and_then(|s| self.facts.build_of(s))
            .and_then(|b| b.ended_at())
            .and_then(|ended| self.failures.iter().find(|(at, _)| *at <= ended));
        match fast_fail {
            Some(&(_, root)) => Stop::Collateral(
                root,
                format!(
                    "stopped by the batch's fast-fail after `{root}` failed; judged by `{root}`"
                ),
            ),
            None if cyclic => Stop::Cycle,
            None => Stop::Root,
        }
    }
}

/// A phase's contexts without the empty `{statusCode: "", message: ""}` ones, which mean
/// nothing (loaders drop them too; this holds whatever filled the facts).
fn meaningful_contexts(phase: &Phase) -> Vec<&Context> {
    phase.contexts.iter().filter(|c| !c.is_empty()).collect()
}

/// The first phase that did not succeed (phases without a status are current or final).
fn failed_phase(phases: &[Phase]) -> Option<&Phase> {
    phases
        .iter()
        .find(|p| p.status.as_ref().is_some_and(|s| *s != Status::Succeeded))
}

/// What a failure looks like to the rules.
struct Failure<'a> {
    group: Option<&'a str>,
    status: &'a Status,
    phase: Option<&'a str>,
    contexts: Vec<&'a Context>,
}

struct Judge<'a> {
    policy: &'a Policy,
    facts: &'a Facts,
    batch: &'a Batch,
    project_covered: bool,
    retries_used: u32,
    /// `max-retries` of the rules that allowed failures.
    caps: Vec<u32>,
}

impl Judge<'_> {
    fn failed_batch(
        &mut self,
        groups: &mut Vec<GroupVerdict>,
        limits: &Limits,
    ) -> (Outcome, DecisionCode) {
        let batch_status = self.batch.status.clone().unwrap_or(Status::Failed);
        // A stop is a decision, not a failure: the batch itself must be allowed by a rule
        // that names STOPPED, whatever its groups did.
        let stopped = batch_status == Status::Stopped;
        if stopped {
            let verdict = self.batch_verdict(&batch_status);
            groups.push(verdict);
        }
        let stop_refused = stopped && groups.last().is_some_and(|g| g.code.is_hard_refusal());
        let unfinished = !self.batch.complete
            || self
                .batch
                .groups
                .iter()
                .any(|g| g.status() == Some(&Status::InProgress));
        if unfinished && self.project_covered && !stop_refused {
            not_judged(groups, "until the batch is complete");
            return (Outcome::Wait, DecisionCode::BatchNotComplete);
        }

        let roots: Vec<usize> = (0..self.batch.groups.len())
            .filter(|&i| groups[i].code == VerdictCode::NoMatchingRule)
            .collect();
        let any_group_failed = groups.iter().any(|g| g.code.is_root_failure());
        if roots.is_empty() && !any_group_failed && !stopped {
            // No group failure explains it: the batch failed on its own (before any group
            // ran, e.g. in DOWNLOAD_BATCHSPEC, or after, e.g. in COMBINE_ARTIFACTS). Only
            // when no group is left waiting in an unknown or unfinished state.
            let waiting = self.batch.groups.iter().any(|g| {
                g.status()
                    .is_some_and(|s| s.is_unfinished() || s.is_unknown())
            });
            match self.batch_failure(&batch_status).filter(|_| !waiting) {
                Some(verdict) => groups.push(verdict),
                None => return (Outcome::Refuse, DecisionCode::NoFailureFound),
            }
        }
        for i in roots {
            let group = &self.batch.groups[i];
            let status = group.status().unwrap_or(&Status::Failed);
            let build = group.current.as_ref().and_then(|s| self.facts.build_of(s));
            let phase = build.and_then(|b| failed_phase(&b.phases));
            let failure = Failure {
                group: Some(group.identifier.as_str()),
                status,
                phase: phase.map(|p| p.phase_type.as_str()),
                contexts: phase.map(meaningful_contexts).unwrap_or_default(),
            };
            let no_details = build.is_none_or(|b| b.phases.is_empty());
            self.apply_rules(&failure, &mut groups[i], no_details);
        }
        if !self.project_covered {
            return (Outcome::Refuse, DecisionCode::ProjectNotCovered);
        }
        if stop_refused {
            return (Outcome::Refuse, DecisionCode::BatchStopped);
        }
        let judged: Vec<&GroupVerdict> =
            groups.iter().filter(|g| g.code.is_root_failure()).collect();
        if judged.iter().any(|g| g.code.is_hard_refusal()) {
            return (Outcome::Refuse, DecisionCode::FailureNotAllowed);
        }
        // The outage brake only ever refuses, and only what would otherwise be retried or
        // refused for a budget.
        if limits.outage.is_some_and(|o| o.braking) {
            return (Outcome::Refuse, DecisionCode::OutageSuspected);
        }
        if judged
            .iter()
            .any(|g| g.code == VerdictCode::RuleBudgetSpent)
        {
            return (Outcome::Refuse, DecisionCode::RuleBudgetSpent);
        }
        if limits.per_batch.remaining == 0 {
            return (Outcome::Refuse, DecisionCode::BatchBudgetSpent);
        }
        if limits.per_commit.remaining == 0 {
            return (Outcome::Refuse, DecisionCode::CommitBudgetSpent);
        }
        if limits.per_project_per_day.is_some_and(|f| f.remaining == 0) {
            return (Outcome::Refuse, DecisionCode::ProjectBudgetSpent);
        }
        (Outcome::Retry, DecisionCode::AllFailuresAllowed)
    }

    /// The batch judged by its own status and failed phase: when no group failed, or when
    /// the batch itself was stopped.
    fn batch_failure(&mut self, status: &Status) -> Option<GroupVerdict> {
        failed_phase(self.batch.current_attempt_phases())?;
        Some(self.batch_verdict(status))
    }

    /// The `(batch)` row: the batch's own failure (its status, the first batch phase of the
    /// current attempt that did not succeed, and its contexts) through the rules.
    fn batch_verdict(&mut self, status: &Status) -> GroupVerdict {
        let phase = failed_phase(self.batch.current_attempt_phases());
        let failure = Failure {
            group: None,
            status,
            phase: phase.map(|p| p.phase_type.as_str()),
            contexts: phase.map(meaningful_contexts).unwrap_or_default(),
        };
        let mut verdict = GroupVerdict {
            group: BATCH_ITSELF.to_string(),
            status: Some(status.to_string()),
            build_id: None,
            failed_phase: failure.phase.map(str::to_string),
            contexts: failure
                .contexts
                .iter()
                .map(|c| ContextView::from(*c))
                .collect(),
            rule: None,
            code: VerdictCode::NoMatchingRule,
            verdict: "refuse",
            detail: String::new(),
        };
        self.apply_rules(&failure, &mut verdict, false);
        verdict
    }

    fn apply_rules(&mut self, failure: &Failure<'_>, verdict: &mut GroupVerdict, no_details: bool) {
        let project = self.batch.project.as_str();
        let source_version = self.batch.source_version.as_deref();
        let rule = self
            .policy
            .rules
            .iter()
            .find(|r| matches(r, project, source_version, failure));
        let (code, detail) = match rule {
            None if !self.project_covered => (
                VerdictCode::ProjectNotCovered,
                format!("no rule of the policy covers project `{project}`"),
            ),
            None if *failure.status == Status::Stopped
                && !self
                    .policy
                    .rules
                    .iter()
                    .any(|r| r.statuses.contains(&Status::Stopped)) =>
            {
                let mut detail = if failure.group.is_none() {
                    "the batch was stopped (StopBuildBatch); no rule names STOPPED".to_string()
                } else {
                    "stopped, not by a failure the gate can see; no rule names STOPPED".to_string()
                };
                if no_details {
                    detail.push_str(
                        " (no build details: pass the builds with --builds to tell a fast-fail stop)",
                    );
                }
                (VerdictCode::StoppedNotNamed, detail)
            }
            None => {
                let mut detail = "no rule matches this failure".to_string();
                if no_details {
                    detail.push_str(" (no phase details: pass the builds with --builds)");
                }
                (VerdictCode::NoMatchingRule, detail)
            }
            Some(r) if r.action == Action::Refuse => (
                VerdictCode::RefusedByRule,
                format!("refused by rule `{}`", r.name),
            ),
            Some(r) => match r.max_retries {
                Some(cap) if self.retries_used >= cap => {
                    self.caps.push(cap);
                    (
                        VerdictCode::RuleBudgetSpent,
                        format!(
                            "allowed by rule `{}`, but its max-retries {cap} is spent ({} made)",
                            r.name, self.retries_used
                        ),
                    )
                }
                cap => {
                    self.caps.extend(cap);
                    (
                        VerdictCode::AllowedByRule,
                        format!("allowed by rule `{}`", r.name),
                    )
                }
            },
        };
        verdict.rule = rule.map(|r| RuleRef {
            name: r.name.clone(),
            action: r.action.as_str(),
            file: self.policy.source.clone(),
            line: r.line,
        });
        verdict.verdict = code.verdict();
        verdict.code = code;
        verdict.detail = detail;
    }
}

/// Whether every selector of `rule` matches the failure of a batch of `project` built from
/// `source_version` (as CodeBuild records it; a batch without one matches no rule that
/// names `source-versions`).
fn matches(
    rule: &Rule,
    project: &str,
    source_version: Option<&str>,
    failure: &Failure<'_>,
) -> bool {
    if !rule.covers_project(project) || !rule.statuses.contains(failure.status) {
        return false;
    }
    let source_ok = rule
        .source_versions
        .as_ref()
        .is_none_or(|g| source_version.is_some_and(|v| g.is_match(v)));
    if !source_ok {
        return false;
    }
    let group_ok = match (&rule.groups, failure.group) {
        (None, _) => true,
        (Some(globs), Some(group)) => globs.is_match(group),
        (Some(_), None) => false,
    };
    let phase_ok = match (&rule.phases, failure.phase) {
        (None, _) => true,
        (Some(phases), Some(phase)) => phases.iter().any(|p| p == phase),
        (Some(_), None) => false,
    };
    let context_ok = rule.status_codes.is_none() && rule.messages.is_none()
        || failure.contexts.iter().any(|c| {
            rule.status_codes
                .as_ref()
                .is_none_or(|g| g.is_match(&c.status_code))
                && rule
                    .messages
                    .as_ref()
                    .is_none_or(|g| g.is_match(&c.message))
        });
    group_ok && phase_ok && context_ok
}

/// One line in plain words.
fn reason(
    code: DecisionCode,
    batch: &Batch,
    groups: &[GroupVerdict],
    budget: &BudgetReport,
    attempt: Option<u32>,
    attempt_limit: u32,
) -> String {
    let roots: Vec<&GroupVerdict> = groups.iter().filter(|g| g.code.is_root_failure()).collect();
    let more = |n: usize| {
        if n > 1 {
            format!(" (and {} more)", n - 1)
        } else {
            String::new()
        }
    };
    match code {
        DecisionCode::AllFailuresAllowed => {
            let first = roots.first().map_or_else(String::new, |g| format!(": {}", failure_summary(g)));
            format!(
                "Retry {}/{attempt_limit}{first}{}",
                attempt.unwrap_or(0),
                more(roots.len())
            )
        }
        DecisionCode::FailureNotAllowed | DecisionCode::RuleBudgetSpent => {
            let refused = roots.iter().filter(|g| g.verdict == "refuse").count();
            match blamed(groups) {
                Some(g) => format!("Not retried: {}{}", failure_summary(g), more(refused)),
                None => "Not retried: a failure is not allowed by the policy".to_string(),
            }
        }
        DecisionCode::BatchStopped => match groups.iter().rfind(|g| g.group == BATCH_ITSELF) {
            Some(g) if g.code == VerdictCode::StoppedNotNamed => format!("Not retried: {}", g.detail),
            Some(g) => format!("Not retried: the batch was stopped, {}", g.detail),
            None => "Not retried: the batch was stopped".to_string(),
        },
        DecisionCode::BatchNotComplete => {
            "Batch failed but is not complete (a build is still running); waiting for it to end"
                .to_string()
        }
        DecisionCode::RetryRejected => "Not retried: CodeBuild rejected the retry".to_string(),
        DecisionCode::BatchBudgetSpent => format!(
            "Not retried: batch already retried {} time{} (per-batch budget {})",
            budget.per_batch.used,
            plural(budget.per_batch.used),
            budget.per_batch.limit
        ),
        DecisionCode::CommitBudgetSpent => format!(
            "Not retried: commit {} already retried {} time{} across {} batch{} of {} (per-commit budget {})",
            short_sha(batch.commit()),
            budget.per_commit.used,
            plural(budget.per_commit.used),
            budget.commit_batches,
            if budget.commit_batches == 1 { "" } else { "es" },
            batch.project,
            budget.per_commit.limit
        ),
        DecisionCode::ProjectBudgetSpent => {
            let day = budget.per_project_per_day.unwrap_or(budget.per_batch);
            format!(
                "Not retried: project {} already retried {} time{} in the last 24 hours (per-project-per-day budget {})",
                batch.project,
                day.used,
                plural(day.used),
                day.limit
            )
        }
        DecisionCode::OutageSuspected => match budget.outage {
            Some(o) => format!(
                "Not retried: outage suspected: {} other batch{} of {} failed in the last {} minute{} (brake at {})",
                o.failed_batches,
                if o.failed_batches == 1 { "" } else { "es" },
                batch.project,
                o.within_minutes,
                plural(o.within_minutes),
                o.threshold
            ),
            None => "Not retried: outage suspected".to_string(),
        },
        DecisionCode::ProjectNotCovered => {
            format!("Not retried: no rule of the policy covers project {}", batch.project)
        }
        DecisionCode::NoFailureFound => {
            "Not retried: the batch failed, but no failed group or batch phase explains it".to_string()
        }
        DecisionCode::UnknownBatchStatus => format!(
            "Not retried: batch status {} is not one the gate knows",
            batch.status.as_ref().map_or("(missing)", |s| s.as_str())
        ),
        DecisionCode::BatchSucceeded => match budget.per_batch.used {
            0 => "Batch succeeded".to_string(),
            n => format!("Batch succeeded after {n} retr{}", if n == 1 { "y" } else { "ies" }),
        },
        DecisionCode::BatchInProgress => "Batch is still in progress".to_string(),
        DecisionCode::RetriedElsewhere => "Batch was retried by someone else; waiting for it".to_string(),
    }
    .chars()
    .map(|c| if c.is_control() { ' ' } else { c })
    .collect::<String>()
}

/// `group failed in PHASE (CODE): verdict detail`.
pub fn failure_summary(g: &GroupVerdict) -> String {
    let who = if g.group == BATCH_ITSELF {
        "the batch"
    } else {
        g.group.as_str()
    };
    let mut s = format!(
        "{who} {}",
        g.status
            .as_deref()
            .map_or_else(|| "failed".to_string(), status_verb)
    );
    if let Some(phase) = &g.failed_phase {
        s.push_str(" in ");
        s.push_str(phase);
    }
    if let Some(c) = g.contexts.first().filter(|c| !c.status_code.is_empty()) {
        s.push_str(&format!(" ({})", c.status_code));
    }
    s.push_str(", ");
    s.push_str(&g.detail);
    s
}

fn status_verb(status: &str) -> String {
    match status {
        "FAILED" => "failed".to_string(),
        "FAULT" => "faulted".to_string(),
        "TIMED_OUT" => "timed out".to_string(),
        "STOPPED" => "was stopped".to_string(),
        other => format!("ended as {other}"),
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn short_sha(sha: Option<&str>) -> &str {
    sha.map_or("(unknown)", |s| s.get(..7).unwrap_or(s))
}
