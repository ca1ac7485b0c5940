//! Known-flaky tests, learned from the project's own record: a test is known flaky in a
//! build group when, within the look-back, it failed in an attempt of a batch whose next
//! attempt of that group succeeded on the same commit (a retry of the batch rebuilds the
//! same commit). Pure: the builds and reports it looks at were read before (see
//! [`evidence`]), and what could not be read is counted, never guessed.

use std::collections::BTreeSet;

use crate::facts::reports::{CasesRead, ReportRead};
use crate::facts::{Batch, BuildSummary, Facts, Status, Timestamp};

/// History batches with a flip looked at, at most, newest first.
pub const MAX_FLAKY_BATCHES: usize = 50;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// A failed build followed, in the next attempt of its group, by a build that succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flip {
    pub batch_id: String,
    pub group: String,
    /// The failed build (`project:uuid`).
    pub build_id: String,
}

/// The flips of `group` (or of every group, with `None`) in the project's batches that
/// started within `days` before `now`, newest batch first, from at most
/// [`MAX_FLAKY_BATCHES`] batches that have one. Read from the batches alone (their groups'
/// build summaries), so the live side knows which builds and reports to read.
pub fn evidence(
    facts: &Facts,
    group: Option<&str>,
    days: u32,
    now: Option<Timestamp>,
) -> Vec<Flip> {
    let project = facts.batch.project.as_str();
    let mut seen = BTreeSet::new();
    let mut batches: Vec<&Batch> = std::iter::once(&facts.batch)
        .chain(facts.history.iter())
        .filter(|b| b.project == project)
        .filter(|b| seen.insert(b.id.as_str()))
        .filter(|b| started_within(b, days, now))
        .collect();
    // Newest first; a batch without a start time last (its place is unknown).
    batches.sort_by_key(|b| std::cmp::Reverse(b.start_time.map(|t| t.0).unwrap_or(i64::MIN)));
    let mut flips = Vec::new();
    let mut with_flips = 0;
    for batch in batches {
        let found: Vec<Flip> = batch
            .groups
            .iter()
            .filter(|g| group.is_none_or(|name| g.identifier == name))
            .flat_map(|g| {
                let attempts: Vec<&BuildSummary> =
                    g.prior.iter().chain(g.current.as_ref()).collect();
                attempts
                    .windows(2)
                    .filter(|pair| {
                        matches!(
                            pair[0].status,
                            Some(Status::Failed | Status::Fault | Status::TimedOut)
                        ) && pair[1].status == Some(Status::Succeeded)
                    })
                    .filter_map(|pair| {
                        Some(Flip {
                            batch_id: batch.id.clone(),
                            group: g.identifier.clone(),
                            build_id: pair[0].build_id()?.to_string(),
                        })
                    })
                    .collect::<Vec<Flip>>()
            })
            .collect();
        if found.is_empty() {
            continue;
        }
        with_flips += 1;
        flips.extend(found);
        if with_flips == MAX_FLAKY_BATCHES {
            break;
        }
    }
    flips
}

/// A batch that started within `days` before `now` (an unknown start or `now` counts: it is
/// only a place to look, and each failure's own time is checked in [`learn`]).
fn started_within(batch: &Batch, days: u32, now: Option<Timestamp>) -> bool {
    match (batch.start_time, now) {
        (Some(start), Some(now)) => start.0 > now.0.saturating_sub(i64::from(days) * DAY_MS),
        _ => true,
    }
}

/// What the record says about the tests of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Learned {
    /// Identities (`PREFIX::NAME`) that failed in an attempt the group's next attempt fixed.
    pub flaky: BTreeSet<String>,
    /// Flips whose failed build, time or reports could not be read: they might have shown
    /// more flaky tests.
    pub unreadable: usize,
}

/// The tests of `group` known flaky within `days` before `now`: failed (FAILED or ERROR) in
/// a flip's failed build that ended within the window. Without `now` nothing is learned (a
/// window with no end cannot be kept).
pub fn learn(facts: &Facts, group: &str, days: u32, now: Option<Timestamp>) -> Learned {
    let mut learned = Learned::default();
    let Some(now) = now else {
        return learned;
    };
    let from = now.0.saturating_sub(i64::from(days) * DAY_MS);
    for flip in evidence(facts, Some(group), days, Some(now)) {
        let Some(build) = facts.builds.get(&flip.build_id) else {
            learned.unreadable += 1;
            continue;
        };
        // By the end of the attempt in which it failed; no recorded end: not evidence.
        match build.ended_at() {
            Some(end) if end.0 > from && end.0 <= now.0 => {}
            Some(_) => continue,
            None => {
                learned.unreadable += 1;
                continue;
            }
        }
        let mut complete = true;
        for arn in &build.report_arns {
            match facts.reports.reports.get(arn) {
                Some(ReportRead::Found(r)) if r.is_coverage() => continue,
                Some(ReportRead::Found(_)) => {}
                _ => {
                    complete = false;
                    continue;
                }
            }
            match facts.reports.failed_cases.get(arn) {
                Some(CasesRead::Read(cases)) => learned
                    .flaky
                    .extend(cases.iter().filter(|c| c.is_failed()).map(|c| c.identity())),
                _ => complete = false,
            }
        }
        if !complete {
            learned.unreadable += 1;
        }
    }
    learned
}

/// Whether reading more of the look-back can no longer change a `tests` judgment of
/// `builds` (each a failed build and its group): for every build, either its failed tests
/// are not known (the judgment stops before the look-back) or each of them is already known
/// flaky in its group for every look-back in `days`. Learning only adds known-flaky tests,
/// and a failed test known flaky is allowed whatever else could not be read, so the live side
/// reads the look-back newest first and stops here.
pub fn settled(
    facts: &Facts,
    builds: &[(String, String)],
    days: &[u32],
    now: Option<Timestamp>,
) -> bool {
    builds.iter().all(|(id, group)| {
        let Ok(failed) = super::test_reports::failed_tests(id, facts, now) else {
            return true;
        };
        days.iter().all(|&d| {
            let known = learn(facts, group, d, now).flaky;
            failed.cases.iter().all(|c| known.contains(&c.identity()))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Group;

    const HOUR: i64 = 60 * 60 * 1000;
    const NOW: i64 = 1_750_000_000_000;

    /// A batch of `web`, started `hours` before `NOW`, whose group `e2e` failed and then
    /// succeeded in the retry (a flip of build `web:fail-N`).
    fn flipped(n: i64) -> Batch {
        let summary = |id: String, status| BuildSummary {
            arn: Some(format!("arn:aws:codebuild:eu-west-1:1:build/{id}")),
            status: Some(status),
            requested_on: None,
        };
        Batch {
            id: format!("web:batch-{n}"),
            project: "web".into(),
            start_time: Some(Timestamp(NOW - n * HOUR)),
            groups: vec![Group {
                identifier: "e2e".into(),
                prior: vec![summary(format!("web:fail-{n}"), Status::Failed)],
                current: Some(summary(format!("web:pass-{n}"), Status::Succeeded)),
                ..Group::default()
            }],
            ..Batch::default()
        }
    }

    const DAY: i64 = 24 * HOUR;

    #[test]
    fn evidence_keeps_only_batches_started_within_the_look_back() {
        let at = |ms: i64, n: i64| Batch {
            start_time: Some(Timestamp(ms)),
            ..flipped(n)
        };
        let facts = Facts {
            batch: Batch {
                id: "web:judged".into(),
                project: "web".into(),
                ..Batch::default()
            },
            history: vec![
                at(NOW - 13 * DAY, 1),
                // Exactly at the window's start: outside (the window is open there).
                at(NOW - 14 * DAY, 2),
                at(NOW - 15 * DAY, 3),
            ],
            ..Facts::default()
        };
        let ids: Vec<String> = evidence(&facts, Some("e2e"), 14, Some(Timestamp(NOW)))
            .into_iter()
            .map(|f| f.build_id)
            .collect();
        assert_eq!(ids, ["web:fail-1"]);
    }

    /// One flip in a batch whose start is unknown (so only its build's end can place it),
    /// the failed build ending at `end` (`None`: not read) with test `suite::t` failed.
    fn one_flip(end: Option<Option<i64>>) -> Facts {
        let mut facts = Facts {
            batch: Batch {
                id: "web:judged".into(),
                project: "web".into(),
                ..Batch::default()
            },
            history: vec![Batch {
                start_time: None,
                ..flipped(1)
            }],
            ..Facts::default()
        };
        let arn = "arn:aws:codebuild:eu-west-1:1:report/web-e2e:r1".to_string();
        if let Some(end) = end {
            facts.builds.insert(
                "web:fail-1".into(),
                crate::facts::Build {
                    id: "web:fail-1".into(),
                    end_time: end.map(Timestamp),
                    report_arns: vec![arn.clone()],
                    ..crate::facts::Build::default()
                },
            );
        }
        facts.reports.reports.insert(
            arn.clone(),
            ReportRead::Found(crate::facts::reports::Report {
                arn: arn.clone(),
                kind: Some("TEST".into()),
                status: Some("FAILED".into()),
                ..crate::facts::reports::Report::default()
            }),
        );
        facts.reports.failed_cases.insert(
            arn.clone(),
            CasesRead::Read(vec![crate::facts::reports::TestCase {
                report_arn: arn,
                prefix: "suite".into(),
                name: "t".into(),
                status: "FAILED".into(),
                ..crate::facts::reports::TestCase::default()
            }]),
        );
        facts
    }

    #[test]
    fn learns_from_a_flip_whose_build_ended_within_the_window_only() {
        let learn_at =
            |end: Option<Option<i64>>| learn(&one_flip(end), "e2e", 14, Some(Timestamp(NOW)));
        let known = |l: &Learned| l.flaky.contains("suite::t");
        // Ended inside the window, and at its very end: learned.
        assert!(known(&learn_at(Some(Some(NOW - DAY)))));
        assert!(known(&learn_at(Some(Some(NOW)))));
        // Ended at the window's start, before it, or after the moment of judgment: not.
        for end in [NOW - 14 * DAY, NOW - 15 * DAY, NOW + 1] {
            let l = learn_at(Some(Some(end)));
            assert!(!known(&l) && l.unreadable == 0, "{end}: {l:?}");
        }
        // The failed build not read, or without an end: counted unreadable, nothing learned.
        for end in [None, Some(None)] {
            let l = learn_at(end);
            assert!(!known(&l) && l.unreadable == 1, "{end:?}: {l:?}");
        }
        // A code-coverage report beside the test report has no cases: nothing is missing.
        let mut with_coverage = one_flip(Some(Some(NOW - DAY)));
        let coverage = "arn:aws:codebuild:eu-west-1:1:report/web-coverage:c1".to_string();
        with_coverage
            .builds
            .get_mut("web:fail-1")
            .unwrap()
            .report_arns
            .push(coverage.clone());
        with_coverage.reports.reports.insert(
            coverage.clone(),
            ReportRead::Found(crate::facts::reports::Report {
                arn: coverage,
                kind: Some("CODE_COVERAGE".into()),
                status: Some("SUCCEEDED".into()),
                ..crate::facts::reports::Report::default()
            }),
        );
        let l = learn(&with_coverage, "e2e", 14, Some(Timestamp(NOW)));
        assert!(known(&l) && l.unreadable == 0, "{l:?}");
        // Without a moment of judgment nothing is learned.
        assert_eq!(
            learn(&one_flip(Some(Some(NOW - DAY))), "e2e", 14, None),
            Learned::default()
        );
    }

    #[test]
    fn evidence_stops_at_fifty_batches_with_flips_newest_first() {
        let facts = Facts {
            batch: Batch {
                id: "web:judged".into(),
                project: "web".into(),
                start_time: Some(Timestamp(NOW)),
                ..Batch::default()
            },
            // 51 flips, one an hour, listed oldest first.
            history: (1..=51).rev().map(flipped).collect(),
            ..Facts::default()
        };
        let flips = evidence(&facts, Some("e2e"), 14, Some(Timestamp(NOW)));
        assert_eq!(flips.len(), MAX_FLAKY_BATCHES);
        assert_eq!(flips[0].build_id, "web:fail-1");
        assert_eq!(flips[49].build_id, "web:fail-50");
        assert!(flips.iter().all(|f| f.build_id != "web:fail-51"));
    }
}
