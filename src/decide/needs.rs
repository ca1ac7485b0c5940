//! Which facts that cost a read could change the judgment, given what is already known.
//!
//! Logs, test reports and GitHub's facts about a commit are expensive, quota-bound and
//! sometimes unreadable, and most decisions never need them. [`needs()`] is pure: it walks
//! each root failure through the rules as [`super::decide`] will, and asks for a fact only
//! where a rule whose other selectors already match has a condition on it, stopping at the
//! first rule that decides without one. The live step reads exactly those (bounded, one round
//! trip), records each in [`Facts`] as known, absent or unreadable, then calls `decide` once.

use std::collections::{BTreeMap, BTreeSet};

use super::{Source, classify_groups, group_failure, matches};
use crate::decision::VerdictCode;
use crate::facts::source_version::canonical_forms;
use crate::facts::{Batch, Facts, Status};
use crate::policy::Policy;

/// What to read before judging.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Needs {
    /// Builds (`project:uuid`) whose log could change a verdict, and how many bytes of its
    /// end: the largest `tail-kib` of the rules that would read it.
    pub logs: BTreeMap<String, usize>,
    /// Builds (`project:uuid`) whose test reports could change a verdict (rules with `tests`).
    /// Read by the test-report side (issue 17, tests).
    pub reports: BTreeSet<String>,
    /// GitHub's facts about the commit (`branches`, `pull-request-bases`; issue 18).
    pub github: GithubNeeds,
}

/// GitHub's facts about the batch's commit that could change a verdict: asked for when a
/// rule that covers the batch's project selects by them (see [`github_needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GithubNeeds {
    /// The branches GitHub lists for the commit (`branches`).
    pub branches: bool,
    /// The open pull requests whose head is the commit (`pull-request-bases`).
    pub pulls: bool,
}

/// The facts that cost a read and could change what [`super::decide`] concludes about
/// `facts.batch` under `policy`. Empty when the batch is not judged on its failures (it
/// succeeded, is running, is not complete, or no rule covers its project).
pub fn needs(policy: &Policy, facts: &Facts) -> Needs {
    let mut needs = Needs::default();
    let batch = &facts.batch;
    if !policy.rules.iter().any(|r| r.is_conditional()) {
        return needs;
    }
    if !is_judged(policy, batch) {
        return needs;
    }
    needs.github = github_needs(policy, batch);
    let project = batch.project.as_str();
    let source = batch.source_version.as_deref().map(|raw| Source {
        raw,
        canonical: canonical_forms(raw),
    });
    let groups = classify_groups(batch, facts);
    for (group, verdict) in batch.groups.iter().zip(&groups) {
        if verdict.code != VerdictCode::NoMatchingRule {
            continue;
        }
        let (failure, _) = group_failure(group, facts);
        let Some(build_id) = failure.build_id else {
            continue;
        };
        for rule in policy
            .rules
            .iter()
            .filter(|r| matches(r, project, source.as_ref(), &failure))
        {
            if let Some(log) = &rule.log {
                let bytes = needs.logs.entry(build_id.to_string()).or_default();
                *bytes = (*bytes).max(log.tail_bytes());
            }
            if rule.tests.is_some() {
                needs.reports.insert(build_id.to_string());
            }
            if !rule.is_conditional() {
                break;
            }
        }
    }
    needs
}

/// Whether `decide` judges the batch on its failures: it failed, is complete, no group is
/// still running, and some rule covers its project.
fn is_judged(policy: &Policy, batch: &Batch) -> bool {
    batch.status.as_ref().is_some_and(Status::is_failure)
        && batch.complete
        && !batch
            .groups
            .iter()
            .any(|g| g.status() == Some(&Status::InProgress))
        && policy
            .rules
            .iter()
            .any(|r| r.covers_project(&batch.project))
}

/// GitHub's facts about the commit that the judgment of `batch` could use: those that a rule
/// covering its project selects by, when the batch is judged on its failures. Known from the
/// policy and the batch alone — before its builds are read — so the live step reads them in
/// parallel with the builds and the history (the gate's round trips do not grow).
pub fn github_needs(policy: &Policy, batch: &Batch) -> GithubNeeds {
    if !is_judged(policy, batch) {
        return GithubNeeds::default();
    }
    let rules = || {
        policy
            .rules
            .iter()
            .filter(|r| r.covers_project(&batch.project))
    };
    GithubNeeds {
        branches: rules().any(|r| r.branches.is_some()),
        pulls: rules().any(|r| r.pull_request_bases.is_some()),
    }
}
