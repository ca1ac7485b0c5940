//! Why STOPPED groups were stopped: by a dependency that failed or was stopped, by the
//! batch's fast-fail after another group failed (read from the builds' phase times), or by
//! nothing the gate can see (a root failure).

use std::collections::HashMap;

use super::{SOURCE_GROUP, failed_phase};
use crate::facts::{Batch, Facts, Group, Status, Timestamp};

/// When each root failure of the batch happened: the end of its build's failed phase (else
/// the end of the build), for FAILED, FAULT and TIMED_OUT groups that count. Earliest first.
pub(super) fn failure_moments<'a>(batch: &'a Batch, facts: &Facts) -> Vec<(Timestamp, &'a str)> {
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
pub(super) struct Stops<'a> {
    pub(super) by_id: HashMap<&'a str, &'a Group>,
    /// Root failures of a FAILED batch, earliest first (empty in any other batch).
    pub(super) failures: Vec<(Timestamp, &'a str)>,
    pub(super) facts: &'a Facts,
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
    pub(super) fn cause(&self, group: &'a Group) -> Option<(&'a str, String)> {
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
