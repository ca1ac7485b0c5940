//! The AWS side of test reports: a build's `reportArns` → `BatchGetReports` →
//! `DescribeTestCases` (status FAILED, then ERROR, every page), with bounded concurrency,
//! each report read at most once a run.
//!
//! Nothing here ends a run: a report that cannot be read is recorded as unreadable, with
//! CodeBuild's error, and the judgment fails closed on it and names it.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use aws_sdk_codebuild::types::TestCaseFilter;
use futures_util::StreamExt;

use crate::codebuild::{AwsError, CodeBuild, MAX_CONCURRENT_READS, MAX_IDS_PER_CALL};
use crate::decide::flaky;
use crate::facts::reports::{CasesRead, FAILED_STATUSES, Report, ReportRead, Reports};
use crate::facts::{Facts, sdk};
use crate::policy::Policy;

/// `DescribeTestCases` pages read at most per status (100 cases a page): a report with more
/// than 2,000 failed tests is not read whole, and the judgment says so.
pub const MAX_CASE_PAGES: usize = 20;
/// Test cases asked for per `DescribeTestCases` page (the service's maximum).
pub const CASES_PER_PAGE: i32 = 100;

/// Reads test reports and their failed cases, remembering what it read for the rest of the
/// run (a report the gate and the flaky-test look-back both need is read once).
pub struct ReportReader {
    codebuild: CodeBuild,
    cache: Mutex<Reports>,
}

impl ReportReader {
    pub fn new(codebuild: CodeBuild) -> ReportReader {
        ReportReader {
            codebuild,
            cache: Mutex::new(Reports::default()),
        }
    }

    /// The reports behind `arns` and the failed and errored cases of each test report that
    /// has any: one `BatchGetReports` per 100 reports, then `DescribeTestCases`, at most
    /// [`MAX_CONCURRENT_READS`] calls at once. Reports read earlier in the run are not read
    /// again. Every ARN asked for is in the answer, found, not found or unreadable.
    pub async fn read(&self, arns: &[String]) -> Reports {
        let wanted: Vec<String> = arns
            .iter()
            .filter(|a| !a.is_empty())
            .cloned()
            .collect::<BTreeSet<String>>()
            .into_iter()
            .collect();
        let unread: Vec<String> = {
            let cache = self.lock();
            wanted
                .iter()
                .filter(|a| !cache.reports.contains_key(*a))
                .cloned()
                .collect()
        };
        let read = self.read_reports(&unread).await;
        let need_cases: Vec<(String, Vec<&'static str>)> = read
            .reports
            .iter()
            .filter_map(|(arn, r)| match r {
                ReportRead::Found(report) if wants_cases(report) => {
                    Some((arn.clone(), statuses_to_read(report)))
                }
                _ => None,
            })
            .collect();
        let mut fresh = read;
        for (arn, report) in &fresh.reports {
            if let ReportRead::Found(r) = report
                && is_done_test_report(r)
                && r.failed_count() == Some(0)
            {
                // The summary counts no failed test: nothing to list.
                fresh
                    .failed_cases
                    .insert(arn.clone(), CasesRead::Read(Vec::new()));
            }
        }
        let cases: Vec<(String, CasesRead)> = futures_util::stream::iter(need_cases)
            .map(|(arn, statuses)| async move {
                let cases = self.failed_cases(&arn, &statuses).await;
                (arn, cases)
            })
            .buffer_unordered(MAX_CONCURRENT_READS)
            .collect()
            .await;
        fresh.failed_cases.extend(cases);

        let mut cache = self.lock();
        cache.extend(fresh);
        let mut out = Reports::default();
        for arn in wanted {
            if let Some(r) = cache.reports.get(&arn) {
                out.reports.insert(arn.clone(), r.clone());
            }
            if let Some(c) = cache.failed_cases.get(&arn) {
                out.failed_cases.insert(arn, c.clone());
            }
        }
        out
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Reports> {
        self.cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `BatchGetReports` for `arns`, in chunks of 100, at most [`MAX_CONCURRENT_READS`] at
    /// once.
    async fn read_reports(&self, arns: &[String]) -> Reports {
        let pages: Vec<(Vec<String>, Result<Reports, AwsError>)> =
            futures_util::stream::iter(arns.chunks(MAX_IDS_PER_CALL))
                .map(|chunk| async move {
                    let result = self
                        .codebuild
                        .client()
                        .batch_get_reports()
                        .set_report_arns(Some(chunk.to_vec()))
                        .send()
                        .await
                        .map_err(|e| AwsError::from_sdk("BatchGetReports", e))
                        .map(|out| {
                            let mut page = Reports::default();
                            for r in out.reports() {
                                let report = sdk::report(r);
                                page.reports
                                    .insert(report.arn.clone(), ReportRead::Found(report));
                            }
                            for arn in out.reports_not_found() {
                                page.reports.insert(arn.clone(), ReportRead::NotFound);
                            }
                            page
                        });
                    (chunk.to_vec(), result)
                })
                .buffer_unordered(MAX_CONCURRENT_READS)
                .collect()
                .await;
        let mut out = Reports::default();
        for (chunk, result) in pages {
            match result {
                Ok(mut page) => {
                    for arn in chunk {
                        let read = page.reports.remove(&arn).unwrap_or_else(|| {
                            ReportRead::Unreadable(
                                "CodeBuild's BatchGetReports answer neither listed nor missed it"
                                    .into(),
                            )
                        });
                        out.reports.insert(arn, read);
                    }
                }
                Err(e) => {
                    for arn in chunk {
                        out.reports
                            .insert(arn, ReportRead::Unreadable(e.to_string()));
                    }
                }
            }
        }
        out
    }

    /// Every case of one report with one of `statuses` (FAILED, ERROR), page by page.
    async fn failed_cases(&self, arn: &str, statuses: &[&'static str]) -> CasesRead {
        let mut all = Vec::new();
        for &status in statuses {
            let mut token: Option<String> = None;
            let mut seen = HashSet::new();
            let mut pages = 0;
            loop {
                if pages == MAX_CASE_PAGES {
                    return CasesRead::Unreadable(format!(
                        "more than {} {status} test cases; not all were read",
                        MAX_CASE_PAGES * CASES_PER_PAGE as usize
                    ));
                }
                pages += 1;
                let out = self
                    .codebuild
                    .client()
                    .describe_test_cases()
                    .report_arn(arn)
                    .filter(TestCaseFilter::builder().status(status).build())
                    .max_results(CASES_PER_PAGE)
                    .set_next_token(token.take())
                    .send()
                    .await;
                let out = match out {
                    Ok(out) => out,
                    Err(e) => {
                        return CasesRead::Unreadable(
                            AwsError::from_sdk("DescribeTestCases", e).to_string(),
                        );
                    }
                };
                all.extend(out.test_cases().iter().map(sdk::test_case));
                match out.next_token().filter(|t| !t.is_empty()) {
                    None => break,
                    Some(t) if !seen.insert(t.to_string()) => {
                        return CasesRead::Unreadable(
                            "CodeBuild's DescribeTestCases repeated a page token; the list cannot be read whole".into(),
                        );
                    }
                    Some(t) => token = Some(t.to_string()),
                }
            }
        }
        // The filter is the service's; what comes back is checked all the same.
        all.retain(|c| c.is_failed());
        CasesRead::Read(all)
    }
}

/// Flips whose reports are read in the look-back's first wave; each later wave is twice
/// the one before (4, 8, 16, 32: a test that never flipped costs four waves, not fifty).
pub const FIRST_FLAKY_WAVE: usize = MAX_CONCURRENT_READS;

/// The live step for `tests` conditions: the reports of the builds [`crate::decide::needs`]
/// names (root failures whose other selectors match a rule with `tests`) and, for
/// `known-flaky-days`, the history's flips in those builds' groups (their failed builds,
/// then their reports), recorded in `facts`. The builds' own reports and the flips' builds
/// are read at once; then the flips' reports newest first, in growing waves, only until
/// every failed test of the builds is known flaky ([`flaky::settled`]: reading more could
/// not change the judgment). Bounded (at most [`flaky::MAX_FLAKY_BATCHES`] batches with
/// flips; reports 100 a call, 4 calls at once) and never an error: what cannot be read is
/// recorded so, and the judgment fails closed on it.
pub async fn read_for_tests(codebuild: &CodeBuild, policy: &Policy, facts: &mut Facts) {
    let builds = crate::decide::needs(policy, facts).reports;
    if builds.is_empty() {
        return;
    }
    let reader = ReportReader::new(codebuild.clone());
    let arns: Vec<String> = builds
        .iter()
        .filter_map(|id| facts.builds.get(id))
        .flat_map(|b| b.report_arns.iter().cloned())
        .collect();
    let days: Vec<u32> = policy
        .rules
        .iter()
        .filter_map(|r| r.tests.as_ref()?.known_flaky_days)
        .collect::<BTreeSet<u32>>()
        .into_iter()
        .collect();
    let Some(&longest) = days.last() else {
        let read = reader.read(&arns).await;
        facts.reports.extend(read);
        return;
    };
    // Each failed build with its group.
    let failed: Vec<(String, String)> = facts
        .batch
        .groups
        .iter()
        .filter_map(|g| {
            let id = g.current.as_ref()?.build_id()?;
            builds
                .contains(id)
                .then(|| (id.to_string(), g.identifier.clone()))
        })
        .collect();
    let now = facts.moment();
    // The same flips `decide` will look at: per group, its newest batches with one; taken
    // in turn across the groups, newest first.
    let per_group: Vec<Vec<String>> = failed
        .iter()
        .map(|(_, g)| g.as_str())
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .map(|g| {
            flaky::evidence(facts, Some(g), longest, now)
                .into_iter()
                .map(|f| f.build_id)
                .collect()
        })
        .collect();
    let mut flips: Vec<String> = Vec::new();
    for i in 0..per_group.iter().map(Vec::len).max().unwrap_or(0) {
        for id in per_group.iter().filter_map(|list| list.get(i)) {
            if !flips.contains(id) {
                flips.push(id.clone());
            }
        }
    }
    let unread: Vec<String> = flips
        .iter()
        .filter(|id| !facts.builds.contains_key(*id))
        .cloned()
        .collect();
    let (own, flipped) = tokio::join!(reader.read(&arns), codebuild.builds(&unread));
    facts.reports.extend(own);
    // A failed read leaves those builds out: the look-back counts them unreadable.
    if let Ok(read) = flipped {
        for build in read {
            facts.builds.insert(build.id.clone(), build);
        }
    }
    let mut rest: &[String] = &flips;
    let mut wave = FIRST_FLAKY_WAVE;
    while !rest.is_empty() && !flaky::settled(facts, &failed, &days, now) {
        let (this, next) = rest.split_at(wave.min(rest.len()));
        let arns: Vec<String> = this
            .iter()
            .filter_map(|id| facts.builds.get(id))
            .flat_map(|b| b.report_arns.iter().cloned())
            .collect();
        let read = reader.read(&arns).await;
        facts.reports.extend(read);
        rest = next;
        wave *= 2;
    }
}

/// The failed statuses whose cases are read for `report`: FAILED and ERROR, but not one its
/// test summary counts as 0 (most reports have no ERROR case: one `DescribeTestCases` call
/// instead of two). A status the summary does not list is read (its count is not known).
fn statuses_to_read(report: &Report) -> Vec<&'static str> {
    FAILED_STATUSES
        .iter()
        .copied()
        .filter(|s| {
            report
                .status_counts
                .as_ref()
                .and_then(|counts| counts.get(*s))
                .is_none_or(|n| *n > 0)
        })
        .collect()
}

/// Whether a found report's failed cases are worth reading: a test report that is done
/// (SUCCEEDED or FAILED; the judgment refuses the others unread) and whose summary does
/// not say it has no failed test.
fn wants_cases(report: &Report) -> bool {
    is_done_test_report(report) && report.failed_count() != Some(0)
}

/// A test report (not code coverage) that CodeBuild finished writing.
fn is_done_test_report(report: &Report) -> bool {
    !report.is_coverage() && matches!(report.status.as_deref(), Some("SUCCEEDED" | "FAILED"))
}
