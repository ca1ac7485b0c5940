//! The judgment: a pure function of (policy, facts). No clients, no clock, no environment.

use std::collections::HashMap;

use crate::decision::{
    BATCH_ITSELF, BudgetReport, ContextView, Decision, DecisionCode, FailedShareReport, Figure,
    GroupRole, GroupVerdict, OutageReport, Outcome, RuleRef, SourceVersionView, VerdictCode,
};
use crate::facts::source_version::canonical_forms;
use crate::facts::{Batch, Context, Facts, Group, Phase, Status};
use crate::policy::{Action, Globs, Policy, Rule, Share};
use conditions::Judgement;

mod budgets;
mod conditions;
pub mod flaky;
mod needs;
mod reason;
mod stops;
mod test_reports;

pub use needs::{GithubNeeds, Needs, github_needs, needs};

use budgets::{commit_retries, other_failures, project_retries_in_a_day};
pub use reason::failure_summary;
use reason::reason;
use stops::{Stops, failure_moments};

/// The internal group CodeBuild adds to a batch to fetch the source; every other group
/// needs it, whether or not it lists it in `dependsOn`.
pub const SOURCE_GROUP: &str = "DOWNLOAD_SOURCE";

const MINUTE_MS: i64 = 60 * 1000;
pub(crate) const DAY_MS: i64 = 24 * 60 * MINUTE_MS;

/// Decides what to do about `facts.batch` under `policy`.
pub fn decide(policy: &Policy, facts: &Facts) -> Decision {
    let batch = &facts.batch;
    let now = facts.moment();
    let (per_commit_used, commit_batches) = commit_retries(policy, facts);
    let per_batch = Figure::new(batch.retries_recorded(), policy.budget.per_batch);
    let per_commit = Figure::new(per_commit_used, policy.budget.per_commit);
    let per_project_per_day = policy
        .budget
        .per_project_per_day
        .map(|limit| Figure::new(project_retries_in_a_day(facts, now), limit));
    let outage = policy.outage.map(|o| {
        let failed = other_failures(facts, now, i64::from(o.within_minutes) * MINUTE_MS);
        OutageReport {
            failed_batches: failed,
            threshold: o.failed_batches,
            within_minutes: o.within_minutes,
            braking: failed >= o.failed_batches,
        }
    });
    // A cut history undercounts every budget drawn from it: the per-commit one (when the
    // commit is known), the daily one and the brake.
    let history_uncountable = facts.history_truncated
        && (batch.commit().is_some() || per_project_per_day.is_some() || outage.is_some());
    let project_covered = policy
        .rules
        .iter()
        .any(|r| r.covers_project(&batch.project));

    let mut groups = classify_groups(batch, facts);
    let failed_share = policy
        .max_failed_share
        .map(|share| failed_share(batch, &groups, share));
    let limits = Limits {
        per_batch,
        per_commit,
        per_project_per_day,
        outage,
        history_uncountable,
        failed_share,
    };
    let source = batch.source_version.as_deref().map(|raw| Source {
        raw,
        canonical: canonical_forms(raw),
    });
    let mut judge = Judge {
        policy,
        facts,
        batch,
        source: source.as_ref(),
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
        failed_share,
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
        source_version: source
            .filter(|s| !s.canonical.is_empty())
            .map(|s| SourceVersionView {
                raw: s.raw.to_string(),
                canonical: s.canonical,
            }),
        policy: policy.source.clone(),
        context: policy.context_for(&batch.project),
        retry_type: policy.retry_type,
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
    /// The history those budgets are counted from was cut (see [`DecisionCode::HistoryIncomplete`]).
    history_uncountable: bool,
    failed_share: Option<FailedShareReport>,
}

/// Root failures among the batch's build groups (first verdicts, before the rules), against
/// `max-failed-share`. CodeBuild's internal source group is not one the buildspec defines:
/// it is counted neither as a group nor as a failure (when it fails, the others are its
/// collateral, and a failed source download is not "half the suite failed").
fn failed_share(batch: &Batch, groups: &[GroupVerdict], share: Share) -> FailedShareReport {
    let own: Vec<&GroupVerdict> = groups
        .iter()
        .take(batch.groups.len())
        .filter(|g| g.group != SOURCE_GROUP)
        .collect();
    let failed = own.iter().filter(|g| g.code.is_root_failure()).count();
    FailedShareReport {
        failed_groups: failed,
        groups: own.len(),
        max_failed_share: share,
        braking: share.exceeded_by(failed, own.len()),
    }
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
                log_match: None,
            }
        })
        .collect()
}

/// A phase's contexts without the empty `{statusCode: "", message: ""}` ones, which mean
/// nothing (loaders drop them too; this holds whatever filled the facts).
fn meaningful_contexts(phase: &Phase) -> Vec<&Context> {
    phase.contexts.iter().filter(|c| !c.is_empty()).collect()
}

/// The first phase that did not succeed (phases without a status are current or final).
pub(crate) fn failed_phase(phases: &[Phase]) -> Option<&Phase> {
    phases
        .iter()
        .find(|p| p.status.as_ref().is_some_and(|s| *s != Status::Succeeded))
}

/// A root failure of a group as the rules see it, and whether its build's details (phases)
/// are missing.
fn group_failure<'a>(group: &'a Group, facts: &'a Facts) -> (Failure<'a>, bool) {
    let status = group.status().unwrap_or(&Status::Failed);
    let summary = group.current.as_ref();
    let build = summary.and_then(|s| facts.build_of(s));
    let phase = build.and_then(|b| failed_phase(&b.phases));
    let failure = Failure {
        group: Some(group.identifier.as_str()),
        build_id: summary.and_then(|s| s.build_id()),
        status,
        phase: phase.map(|p| p.phase_type.as_str()),
        contexts: phase.map(meaningful_contexts).unwrap_or_default(),
    };
    (failure, build.is_none_or(|b| b.phases.is_empty()))
}

/// What a failure looks like to the rules.
struct Failure<'a> {
    group: Option<&'a str>,
    /// The failed build (`project:uuid`); `None` for the batch's own failure.
    build_id: Option<&'a str>,
    status: &'a Status,
    phase: Option<&'a str>,
    contexts: Vec<&'a Context>,
}

/// The batch's `sourceVersion` as recorded, and its canonical forms.
struct Source<'a> {
    raw: &'a str,
    canonical: Vec<String>,
}

impl Source<'_> {
    /// The first of the raw value and its canonical forms that one of `globs` matches.
    fn matched_by(&self, globs: &Globs) -> Option<&str> {
        std::iter::once(self.raw)
            .chain(self.canonical.iter().map(String::as_str))
            .find(|form| globs.is_match(form))
    }
}

struct Judge<'a> {
    policy: &'a Policy,
    facts: &'a Facts,
    batch: &'a Batch,
    source: Option<&'a Source<'a>>,
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
            not_judged(
                groups,
                if stopped {
                    "until its builds have stopped"
                } else {
                    "until the batch is complete"
                },
            );
            return (Outcome::Wait, DecisionCode::BatchNotComplete);
        }

        let roots: Vec<usize> = (0..self.batch.groups.len())
            .filter(|&i| groups[i].code == VerdictCode::NoMatchingRule)
            .collect();
        let any_group_failed = groups.iter().any(|g| g.code.is_root_failure());
        if roots.is_empty() && !any_group_failed && !stopped {
            // No group failure explains it: the batch failed on its own (before any group
            // ran, e.g. in DOWNLOAD_BATCHSPEC, or after, e.g. in COMBINE_ARTIFACTS). Only
            // when no group failed and none is left waiting in an unknown or unfinished
            // state. A failed `ignoreFailure` group is a group that failed: it explains the
            // batch's failed IN_PROGRESS phase, but the batch ignores it, so nothing is left
            // to judge (`no-failure-found`), never the batch phase that merely records it.
            let groups_speak = self.batch.groups.iter().any(|g| {
                g.status()
                    .is_some_and(|s| s.is_unfinished() || s.is_unknown())
            }) || groups.iter().any(|g| g.code == VerdictCode::IgnoredFailure);
            match self.batch_failure(&batch_status).filter(|_| !groups_speak) {
                Some(verdict) => groups.push(verdict),
                None => return (Outcome::Refuse, DecisionCode::NoFailureFound),
            }
        }
        for i in roots {
            let (failure, no_details) = group_failure(&self.batch.groups[i], self.facts);
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
        if judged
            .iter()
            .any(|g| g.code.is_hard_refusal() && g.code != VerdictCode::CouldNotJudge)
        {
            return (Outcome::Refuse, DecisionCode::FailureNotAllowed);
        }
        if judged.iter().any(|g| g.code == VerdictCode::CouldNotJudge) {
            return (Outcome::Refuse, DecisionCode::CouldNotJudge);
        }
        // The brakes only ever refuse, and only what would otherwise be retried or refused
        // for a budget: first the batch's own share of failed groups, then the outage brake.
        if limits.failed_share.is_some_and(|f| f.braking) {
            return (Outcome::Refuse, DecisionCode::TooManyFailed);
        }
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
        // Counts from a cut history can only be too low: they may say "room left" where
        // there is none, never the reverse. So only a retry is held back.
        if limits.history_uncountable {
            return (Outcome::Refuse, DecisionCode::HistoryIncomplete);
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
            build_id: None,
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
            verdict: GroupRole::Refuse,
            detail: String::new(),
            log_match: None,
        };
        self.apply_rules(&failure, &mut verdict, false);
        verdict
    }

    fn apply_rules(&mut self, failure: &Failure<'_>, verdict: &mut GroupVerdict, no_details: bool) {
        let project = self.batch.project.as_str();
        let source = self.source;
        // Rules whose selectors matched but whose conditions (log, tests) did not hold, and
        // why; and a `refuse` rule whose condition could not be judged, which might apply.
        let mut passed_over: Vec<String> = Vec::new();
        let mut unjudged_refusal: Option<(&Rule, String)> = None;
        let mut log_match = None;
        let rule = self.policy.rules.iter().find(|r| {
            if unjudged_refusal.is_some() || !matches(r, project, source, failure) {
                return false;
            }
            match conditions::judge(r, failure.build_id, self.facts) {
                Judgement::Met(found) => {
                    log_match = found;
                    true
                }
                Judgement::NotMet(why) => {
                    passed_over.push(format!("rule `{}` did not match: {why}", r.name));
                    false
                }
                Judgement::Unknown(why) if r.action == Action::Refuse => {
                    unjudged_refusal = Some((r, why));
                    false
                }
                Judgement::Unknown(why) => {
                    passed_over.push(format!("{COULD_NOT_JUDGE} rule `{}`: {why}", r.name));
                    false
                }
            }
        });
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
                    detail.push_str(if self.facts.builds.is_empty() {
                        " (no build details: pass the builds with --builds to tell a fast-fail stop)"
                    } else {
                        " (no build details: none of the builds given is this group's build, so a fast-fail stop cannot be told; --builds needs this batch's builds)"
                    });
                }
                (VerdictCode::StoppedNotNamed, detail)
            }
            None => {
                let mut detail = "no rule matches this failure".to_string();
                if no_details {
                    detail.push_str(if self.facts.builds.is_empty() {
                        " (no phase details: pass the builds with --builds)"
                    } else {
                        " (no phase details: none of the builds given is this group's build; --builds needs this batch's builds)"
                    });
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
        // A refusal that a fact nobody could read might have turned: could not judge (fail
        // closed, and said so). A `refuse` rule that might apply refuses in any case.
        let unknown = passed_over.iter().any(|p| p.starts_with(COULD_NOT_JUDGE));
        let shown_rule = unjudged_refusal.as_ref().map(|(r, _)| *r).or(rule);
        let (code, detail) = match unjudged_refusal {
            Some((r, why)) => (
                VerdictCode::CouldNotJudge,
                format!(
                    "{COULD_NOT_JUDGE} refusing rule `{}`, which might apply: {why}",
                    r.name
                ),
            ),
            None if unknown && code.is_hard_refusal() && code != VerdictCode::ProjectNotCovered => {
                (VerdictCode::CouldNotJudge, detail)
            }
            None => (code, detail),
        };
        let mut detail = detail;
        if let Some(note) = rule.and_then(|r| canonical_note(r, source)) {
            detail.push_str(&note);
        }
        let detail = with_notes(detail, &passed_over);
        let detail = match (&log_match, rule) {
            (Some(m), Some(_)) => format!("{detail}: log line `{}`", m.line),
            _ => detail,
        };
        verdict.log_match = log_match;
        verdict.rule = shown_rule.map(|r| RuleRef {
            name: r.name.clone(),
            action: r.action,
            file: self.policy.source.clone(),
            line: r.line,
        });
        verdict.verdict = code.verdict();
        verdict.code = code;
        verdict.detail = detail;
    }
}

/// How a note about a condition that could not be judged starts.
const COULD_NOT_JUDGE: &str = "could not judge";

/// `detail`, then why the rules passed over did not decide, in the order they were tried.
fn with_notes(detail: String, notes: &[String]) -> String {
    if notes.is_empty() {
        detail
    } else {
        format!("{detail} ({})", notes.join("; "))
    }
}

/// When `rule` matched the batch's source version only in a canonical form: which one, for
/// the verdict's detail (` (sourceVersion `refs/heads/main^{…}` read as `main`)`).
fn canonical_note(rule: &Rule, source: Option<&Source<'_>>) -> Option<String> {
    let source = source?;
    let form = source.matched_by(rule.source_versions.as_ref()?)?;
    (form != source.raw).then(|| format!(" (sourceVersion `{}` read as `{form}`)", source.raw))
}

/// Whether every selector of `rule` but its conditions (log, tests: facts that cost a read,
/// see [`conditions`]) matches the failure of a batch of `project` built from
/// `source` (as CodeBuild records it, or one of its canonical forms; a batch without one
/// matches no rule that names `source-versions`).
fn matches(rule: &Rule, project: &str, source: Option<&Source<'_>>, failure: &Failure<'_>) -> bool {
    if !rule.covers_project(project) || !rule.statuses.contains(failure.status) {
        return false;
    }
    let source_ok = rule
        .source_versions
        .as_ref()
        .is_none_or(|g| source.is_some_and(|s| s.matched_by(g).is_some()));
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
