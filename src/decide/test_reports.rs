//! A rule's `tests` condition against the failed build's test reports: every failed or
//! errored test quarantined (`failed` globs) or known flaky (`known-flaky-days`), and at most
//! `max-failed` of them. Pure. It fails closed: what was not read, could not be read, is not
//! done (GENERATING, INCOMPLETE), expired or is missing failed tests is "not known"; no
//! report, or no failed test at all, is "not met".

use std::collections::BTreeSet;

use super::conditions::Judgement;
use super::flaky;
use crate::facts::reports::{CasesRead, FAILED_STATUSES, ReportRead, TestCase};
use crate::facts::{Facts, Timestamp};
use crate::policy::TestsCondition;

/// How long a test's identity may be when shown.
const MAX_TEST_NAME: usize = 200;

/// A test's identity as shown in a reason: cleaned by the one sanitiser.
fn shown(identity: &str) -> String {
    crate::text::clean(identity, MAX_TEST_NAME)
}

/// The failed tests of a build, from all its test reports.
pub(super) struct Failed {
    /// Each failed test once (by identity), in the order read.
    pub cases: Vec<TestCase>,
    /// How many failed or errored test cases the reports hold: their summaries' counts (a
    /// test run twice, e.g. in two browsers, is counted twice, as CodeBuild counts it).
    pub count: usize,
}

/// The failed tests of build `id`, from all its test reports, or why they cannot be known.
pub(super) fn failed_tests(
    id: &str,
    facts: &Facts,
    now: Option<Timestamp>,
) -> Result<Failed, Judgement> {
    let Some(build) = facts.builds.get(id) else {
        return Err(Judgement::Unknown(format!(
            "the details of build {id} were not read, so its test reports are not known"
        )));
    };
    let mut failed: Vec<TestCase> = Vec::new();
    let mut count = 0;
    let mut any_test_report = false;
    for arn in &build.report_arns {
        let report = match facts.reports.reports.get(arn) {
            None => {
                return Err(Judgement::Unknown(format!(
                    "test report {arn} of build {id} was not read (offline: add `aws codebuild batch-get-reports --report-arns {arn}` output with --reports)"
                )));
            }
            Some(ReportRead::NotFound) => {
                return Err(Judgement::Unknown(format!(
                    "test report {arn} of build {id} was not found (deleted, or expired: CodeBuild keeps reports 30 days)"
                )));
            }
            Some(ReportRead::Unreadable(why)) => {
                return Err(Judgement::Unknown(format!(
                    "test report {arn} of build {id} could not be read: {why}"
                )));
            }
            Some(ReportRead::Found(r)) => r,
        };
        if report.is_coverage() {
            continue;
        }
        any_test_report = true;
        if let (Some(expired), Some(now)) = (report.expired, now)
            && expired <= now
        {
            return Err(Judgement::Unknown(format!(
                "test report {arn} of build {id} has expired (CodeBuild keeps reports 30 days)"
            )));
        }
        match report.status.as_deref() {
            Some("SUCCEEDED" | "FAILED") => {}
            other => {
                return Err(Judgement::Unknown(format!(
                    "test report {arn} of build {id} is {}, not complete",
                    other.unwrap_or("without a status")
                )));
            }
        }
        let cases = match facts.reports.failed_cases.get(arn) {
            Some(CasesRead::Read(cases)) => cases,
            Some(CasesRead::Unreadable(why)) => {
                return Err(Judgement::Unknown(format!(
                    "the failed tests of report {arn} of build {id} could not be read: {why}"
                )));
            }
            None if report.failed_count() == Some(0) => continue,
            None => {
                return Err(Judgement::Unknown(format!(
                    "the failed tests of report {arn} of build {id} were not read (offline: add `aws codebuild describe-test-cases --report-arn {arn} --filter status=FAILED` output, and with status=ERROR, with --test-cases)"
                )));
            }
        };
        let read: Vec<&TestCase> = cases.iter().filter(|c| c.is_failed()).collect();
        // Status by status: errored cases read never stand in for failed ones missing.
        let short = report.status_counts.as_ref().and_then(|counts| {
            FAILED_STATUSES.iter().find_map(|&status| {
                let counted = *counts.get(status)?;
                let got = read.iter().filter(|c| c.status == status).count();
                ((got as i64) < counted).then_some((status, counted, got))
            })
        });
        if let Some((status, counted, got)) = short {
            let how = if report.truncated {
                "is truncated"
            } else {
                "was not read whole"
            };
            let kind = if status == "ERROR" {
                "errored"
            } else {
                "failed"
            };
            return Err(Judgement::Unknown(format!(
                "test report {arn} of build {id} {how}: it counts {counted} {kind} tests, {got} were read"
            )));
        }
        match report.failed_count() {
            None if report.truncated => {
                return Err(Judgement::Unknown(format!(
                    "test report {arn} of build {id} is truncated and has no test summary, so whether every failed test was read is not known"
                )));
            }
            Some(counted) => count += (counted as usize).max(read.len()),
            None => count += read.len(),
        }
        for case in read {
            if !failed.iter().any(|f| f.identity() == case.identity()) {
                failed.push(case.clone());
            }
        }
    }
    if !any_test_report {
        return Err(Judgement::NotMet(format!("build {id} has no test report")));
    }
    if failed.is_empty() {
        return Err(Judgement::NotMet(format!(
            "no test of build {id} failed: its failure is not a test failure"
        )));
    }
    Ok(Failed {
        cases: failed,
        count,
    })
}

/// `tests` for the failure of build `build_id` of group `group` (`None`: the batch's own
/// failure, which has no test reports). `now` ends the windows: the known-flaky look-back
/// and a report's expiry.
pub(super) fn judge_tests(
    tests: &TestsCondition,
    build_id: Option<&str>,
    group: Option<&str>,
    facts: &Facts,
    now: Option<Timestamp>,
) -> Judgement {
    let (Some(id), Some(group)) = (build_id, group) else {
        return Judgement::NotMet("the batch's own failure has no test reports".to_string());
    };
    let Failed {
        cases: failed,
        count,
    } = match failed_tests(id, facts, now) {
        Ok(failed) => failed,
        Err(judgement) => return judgement,
    };
    if let Some(max) = tests.max_failed
        && count > max as usize
    {
        return Judgement::NotMet(format!(
            "{count} tests of build {id} failed, more than max-failed {max}"
        ));
    }
    let learned = tests
        .known_flaky_days
        .map(|days| (days, flaky::learn(facts, group, days, now)));
    let quarantined = |c: &TestCase| {
        tests
            .failed
            .as_ref()
            .is_some_and(|g| g.is_match(&c.identity()) || g.is_match(&c.name))
    };
    let flaky: BTreeSet<&str> = learned
        .as_ref()
        .map(|(_, l)| l.flaky.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let open = (tests.failed.is_none() && learned.is_none()).then_some(());
    for case in &failed {
        let identity = case.identity();
        if open.is_some() || quarantined(case) || flaky.contains(identity.as_str()) {
            continue;
        }
        let what = match (&tests.failed, &learned) {
            (Some(_), Some((days, _))) => format!(
                "is neither quarantined (`failed`) nor known flaky in group {group} (no retry fixed it in the last {days} days)"
            ),
            (Some(_), None) => "is not quarantined (`failed`)".to_string(),
            (None, Some((days, _))) => format!(
                "is not known flaky in group {group} (no retry fixed it in the last {days} days)"
            ),
            (None, None) => unreachable!("open"),
        };
        let more = if count > 1 {
            format!(" ({count} tests failed)")
        } else {
            String::new()
        };
        let sentence = format!("test `{}` failed and {what}{more}", shown(&identity));
        // Evidence that could not be read might have shown it flaky: not known, not "no".
        return match &learned {
            Some((_, l)) if l.unreadable > 0 && !quarantined(case) => Judgement::Unknown(format!(
                "{sentence}; {} earlier attempt{} that a retry fixed could not be read (their failed builds or test reports; offline, add them with --builds, --reports and --test-cases)",
                l.unreadable,
                if l.unreadable == 1 { "" } else { "s" }
            )),
            _ => Judgement::NotMet(sentence),
        };
    }
    Judgement::Met(None)
}
