//! The judgment: a pure function of (policy, facts). No clients, no clock, no environment.

use std::collections::{BTreeSet, HashMap};

use crate::decision::{
    BATCH_ITSELF, BudgetReport, ContextView, Decision, DecisionCode, Figure, GroupVerdict, Outcome,
    RuleRef, VerdictCode,
};
use crate::facts::{Batch, Context, Facts, Group, Phase, Status};
use crate::policy::{Action, Policy, Rule};

/// The internal group CodeBuild adds to a batch to fetch the source; every other group
/// needs it, whether or not it lists it in `dependsOn`.
pub const SOURCE_GROUP: &str = "DOWNLOAD_SOURCE";

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// Decides what to do about `facts.batch` under `policy`.
pub fn decide(policy: &Policy, facts: &Facts) -> Decision {
    let batch = &facts.batch;
    let (per_commit_used, commit_batches) = commit_retries(policy, facts);
    let per_batch = Figure::new(batch.retries_recorded(), policy.budget.per_batch);
    let per_commit = Figure::new(per_commit_used, policy.budget.per_commit);
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
        Some(s) if s.is_failure() => judge.failed_batch(&mut groups, per_batch, per_commit),
        other => {
            // Not judged: failed groups are shown as such, not as refusals.
            let shown = other.map_or("(missing)", |s| s.as_str());
            for g in groups
                .iter_mut()
                .filter(|g| g.code == VerdictCode::NoMatchingRule)
            {
                g.code = VerdictCode::NotJudged;
                g.verdict = g.code.verdict();
                g.detail = format!("failed; not judged while the batch is {shown}");
            }
            match other {
                Some(Status::Succeeded) => (Outcome::Pass, DecisionCode::BatchSucceeded),
                Some(Status::InProgress) => (Outcome::Wait, DecisionCode::BatchInProgress),
                _ => (Outcome::Refuse, DecisionCode::UnknownBatchStatus),
            }
        }
    };

    let rule_cap = judge.caps.iter().copied().min();
    let mut remaining = per_batch.remaining.min(per_commit.remaining);
    if let Some(cap) = rule_cap {
        remaining = remaining.min(cap.saturating_sub(per_batch.used));
    }
    let attempt_limit = per_batch.used + remaining;
    let attempt = (outcome == Outcome::Retry).then_some(per_batch.used + 1);
    let budget = BudgetReport {
        per_batch,
        per_commit,
        commit_batches,
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
        commit: batch.resolved_source_version.clone(),
        batch_status: batch.status.as_ref().map(|s| s.to_string()),
        policy: policy.source.clone(),
        context: policy.context.clone(),
        retry_type: policy.retry_type.api_value(),
        attempt,
        attempt_limit,
        groups,
        budget,
    }
}

/// Retries already made on this commit of this project, within the look-back, counting this
/// batch; and how many batches that covers. Batches without a start time are counted (fail
/// closed); a batch without a resolved commit is counted alone.
fn commit_retries(policy: &Policy, facts: &Facts) -> (u32, usize) {
    let batch = &facts.batch;
    let mut total = batch.retries_recorded();
    let mut counted = 1;
    let Some(commit) = batch.resolved_source_version.as_deref() else {
        return (total, counted);
    };
    let window = i64::from(policy.budget.lookback_days) * DAY_MS;
    let mut seen = BTreeSet::from([batch.id.as_str()]);
    for other in &facts.history {
        let same = other.project == batch.project
            && other.resolved_source_version.as_deref() == Some(commit);
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

/// A first verdict for every group from its own status and its dependencies; root failures
/// are left as [`VerdictCode::NoMatchingRule`] until the rules are applied.
fn classify_groups(batch: &Batch, facts: &Facts) -> Vec<GroupVerdict> {
    let by_id: HashMap<&str, &Group> = batch
        .groups
        .iter()
        .map(|g| (g.identifier.as_str(), g))
        .collect();
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
                Some(Status::Succeeded) => (VerdictCode::Succeeded, "succeeded".to_string()),
                Some(Status::InProgress) => (VerdictCode::InProgress, "still running".to_string()),
                Some(Status::Other(text)) => (
                    VerdictCode::UnknownStatus,
                    format!("status `{text}` is not one the gate knows; shown, not judged"),
                ),
                Some(_) if group.ignore_failure => (
                    VerdictCode::IgnoredFailure,
                    "failed, but the batch ignores this group's failures (ignoreFailure)".to_string(),
                ),
                Some(Status::Stopped) => match collateral_cause(group, &by_id) {
                    Some(cause) => (
                        VerdictCode::Collateral,
                        format!("stopped because `{cause}`, which it depends on, failed; judged by `{cause}`"),
                    ),
                    None => (VerdictCode::NoMatchingRule, String::new()),
                },
                Some(_) => (VerdictCode::NoMatchingRule, String::new()),
            };
            let judged = code == VerdictCode::NoMatchingRule;
            GroupVerdict {
                group: group.identifier.clone(),
                status: status.map(|s| s.to_string()),
                build_id: summary.and_then(|s| s.build_id()).map(str::to_string),
                failed_phase: if judged { failed.map(|p| p.phase_type.clone()) } else { None },
                contexts: if judged {
                    failed
                        .map(|p| meaningful_contexts(p).into_iter().map(ContextView::from).collect())
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

/// The failed group that a STOPPED group was stopped for, following `dependsOn` (and the
/// implicit dependency on the source group) through other collateral groups.
fn collateral_cause<'a>(group: &'a Group, by_id: &HashMap<&str, &'a Group>) -> Option<&'a str> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![group];
    while let Some(g) = stack.pop() {
        if !seen.insert(g.identifier.as_str()) {
            continue;
        }
        let implicit = (g.identifier != SOURCE_GROUP).then_some(SOURCE_GROUP);
        for dep in g.depends_on.iter().map(String::as_str).chain(implicit) {
            let Some(d) = by_id.get(dep) else { continue };
            match d.status() {
                Some(s) if s.is_failure() && *s != Status::Stopped && !d.ignore_failure => {
                    return Some(d.identifier.as_str());
                }
                Some(Status::Stopped) if !d.ignore_failure => stack.push(d),
                _ => {}
            }
        }
    }
    // A chain of STOPPED groups with no failed group at its end: the first STOPPED
    // dependency is the cause only if it is itself a root failure; report the group itself.
    None
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
        per_batch: Figure,
        per_commit: Figure,
    ) -> (Outcome, DecisionCode) {
        let roots: Vec<usize> = (0..groups.len())
            .filter(|&i| groups[i].code == VerdictCode::NoMatchingRule)
            .collect();
        if roots.is_empty() {
            // No group failure explains it: the batch failed on its own (before any group
            // ran, e.g. in DOWNLOAD_BATCHSPEC, or after, e.g. in COMBINE_ARTIFACTS).
            match self.batch_failure() {
                Some(verdict) => groups.push(verdict),
                None => return (Outcome::Refuse, DecisionCode::NoFailureFound),
            }
        } else {
            for i in roots {
                let group = &self.batch.groups[i];
                let summary = group.current.as_ref();
                let status = group.status().unwrap_or(&Status::Failed);
                let verdict = &mut groups[i];
                let build = summary.and_then(|s| self.facts.build_of(s));
                let phase = build.and_then(|b| failed_phase(&b.phases));
                let failure = Failure {
                    group: Some(group.identifier.as_str()),
                    status,
                    phase: phase.map(|p| p.phase_type.as_str()),
                    contexts: phase.map(meaningful_contexts).unwrap_or_default(),
                };
                let no_details = build.is_none_or(|b| b.phases.is_empty());
                self.apply_rules(&failure, verdict, no_details);
            }
        }
        let judged: Vec<&GroupVerdict> =
            groups.iter().filter(|g| g.code.is_root_failure()).collect();
        if !self.project_covered {
            return (Outcome::Refuse, DecisionCode::ProjectNotCovered);
        }
        if judged
            .iter()
            .any(|g| g.code != VerdictCode::AllowedByRule && g.code != VerdictCode::RuleBudgetSpent)
        {
            return (Outcome::Refuse, DecisionCode::FailureNotAllowed);
        }
        if judged
            .iter()
            .any(|g| g.code == VerdictCode::RuleBudgetSpent)
        {
            return (Outcome::Refuse, DecisionCode::RuleBudgetSpent);
        }
        if per_batch.remaining == 0 {
            return (Outcome::Refuse, DecisionCode::BatchBudgetSpent);
        }
        if per_commit.remaining == 0 {
            return (Outcome::Refuse, DecisionCode::CommitBudgetSpent);
        }
        (Outcome::Retry, DecisionCode::AllFailuresAllowed)
    }

    /// No group failed: judge the batch by its own failed phase, if it has one.
    fn batch_failure(&mut self) -> Option<GroupVerdict> {
        let status = self.batch.status.as_ref().unwrap_or(&Status::Failed);
        let phase = Some(failed_phase(self.batch.current_attempt_phases())?);
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
        Some(verdict)
    }

    fn apply_rules(&mut self, failure: &Failure<'_>, verdict: &mut GroupVerdict, no_details: bool) {
        let project = self.batch.project.as_str();
        let rule = self
            .policy
            .rules
            .iter()
            .find(|r| matches(r, project, failure));
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
                (
                    VerdictCode::StoppedNotNamed,
                    "STOPPED (by a person or a timeout of the batch); no rule names STOPPED"
                        .to_string(),
                )
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

/// Whether every selector of `rule` matches the failure.
fn matches(rule: &Rule, project: &str, failure: &Failure<'_>) -> bool {
    if !rule.covers_project(project) || !rule.statuses.contains(failure.status) {
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
            let refused: Vec<&&GroupVerdict> = roots.iter().filter(|g| g.verdict == "refuse").collect();
            match refused.first() {
                Some(g) => format!("Not retried: {}{}", failure_summary(g), more(refused.len())),
                None => "Not retried: a failure is not allowed by the policy".to_string(),
            }
        }
        DecisionCode::BatchBudgetSpent => format!(
            "Not retried: batch already retried {} time{} (per-batch budget {})",
            budget.per_batch.used,
            plural(budget.per_batch.used),
            budget.per_batch.limit
        ),
        DecisionCode::CommitBudgetSpent => format!(
            "Not retried: commit {} already retried {} time{} across {} batch{} of {} (per-commit budget {})",
            short_sha(batch.resolved_source_version.as_deref()),
            budget.per_commit.used,
            plural(budget.per_commit.used),
            budget.commit_batches,
            if budget.commit_batches == 1 { "" } else { "es" },
            batch.project,
            budget.per_commit.limit
        ),
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
        g.status.as_deref().map_or("failed", status_verb)
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

fn status_verb(status: &str) -> &str {
    match status {
        "FAILED" => "failed",
        "FAULT" => "faulted",
        "TIMED_OUT" => "timed out",
        "STOPPED" => "was stopped",
        _ => "failed",
    }
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn short_sha(sha: Option<&str>) -> &str {
    sha.map_or("(unknown)", |s| s.get(..7).unwrap_or(s))
}
