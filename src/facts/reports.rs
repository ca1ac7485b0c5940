//! Test reports: plain data from `BatchGetReports` and `DescribeTestCases` (live) or from
//! `aws codebuild batch-get-reports` and `aws codebuild describe-test-cases` output
//! (offline), so both paths share one judgment.
//!
//! A build names its reports (`reportArns`); the reports and their failed and errored test
//! cases are kept by report ARN. What could not be read is recorded with why: the judgment
//! sees it and fails closed, naming it.

use std::collections::BTreeMap;

use super::Timestamp;

/// The test case statuses that count as failed tests (`DescribeTestCases` filters on one
/// status at a time, so they are read one after the other).
pub const FAILED_STATUSES: [&str; 2] = ["FAILED", "ERROR"];

/// One report (`Report` in the CodeBuild model). Enum values are kept as text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    pub arn: String,
    /// `type`: `TEST` or `CODE_COVERAGE`.
    pub kind: Option<String>,
    /// `GENERATING`, `SUCCEEDED`, `FAILED`, `INCOMPLETE` or `DELETING`.
    pub status: Option<String>,
    /// The ARN of the build that made it (`executionId`).
    pub execution_id: Option<String>,
    pub created: Option<Timestamp>,
    /// When it expires (30 days after it was created); after that CodeBuild no longer shows
    /// it or its test cases.
    pub expired: Option<Timestamp>,
    /// The list of test cases was cut at CodeBuild's maximum.
    pub truncated: bool,
    /// `testSummary.total`.
    pub total: Option<i64>,
    /// `testSummary.statusCounts`; `None` when the report has no test summary.
    pub status_counts: Option<BTreeMap<String, i64>>,
}

impl Report {
    /// A code-coverage report holds no test cases.
    pub fn is_coverage(&self) -> bool {
        self.kind.as_deref() == Some("CODE_COVERAGE")
    }

    /// Failed and errored tests as the test summary counts them; `None` without a summary.
    pub fn failed_count(&self) -> Option<i64> {
        self.status_counts.as_ref().map(|counts| {
            FAILED_STATUSES
                .iter()
                .map(|s| counts.get(*s).copied().unwrap_or(0).max(0))
                .sum()
        })
    }
}

/// One test case (`TestCase` in the CodeBuild model).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestCase {
    pub report_arn: String,
    /// Set by CodeBuild from the test framework (e.g. the class or file); may be empty.
    pub prefix: String,
    pub name: String,
    /// `SUCCEEDED`, `FAILED`, `ERROR`, `SKIPPED` or `UNKNOWN`, kept as text.
    pub status: String,
    /// The failure message or stack trace: hostile text, shown only cleaned.
    pub message: String,
    pub expired: Option<Timestamp>,
    pub suite: Option<String>,
}

impl TestCase {
    /// `PREFIX::NAME`, or `NAME` when there is no prefix.
    pub fn identity(&self) -> String {
        identity(&self.prefix, &self.name)
    }

    /// FAILED or ERROR.
    pub fn is_failed(&self) -> bool {
        FAILED_STATUSES.contains(&self.status.as_str())
    }
}

/// `PREFIX::NAME`, or `NAME` when the prefix is empty.
pub fn identity(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}::{name}")
    }
}

/// What a read of one report came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportRead {
    Found(Report),
    /// CodeBuild does not know the ARN (`reportsNotFound`): deleted, or expired.
    NotFound,
    /// The read failed; why, in plain words (no secrets: an error code and message).
    Unreadable(String),
}

/// What a read of one report's failed and errored test cases came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasesRead {
    /// Every failed and errored case CodeBuild returned (all pages).
    Read(Vec<TestCase>),
    Unreadable(String),
}

/// Reports and their failed cases, by report ARN. An ARN that is in neither map was not
/// read (offline: not in the captures given).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reports {
    pub reports: BTreeMap<String, ReportRead>,
    pub failed_cases: BTreeMap<String, CasesRead>,
}

impl Reports {
    /// Adds what another read found (later reads win).
    pub fn extend(&mut self, other: Reports) {
        self.reports.extend(other.reports);
        self.failed_cases.extend(other.failed_cases);
    }

    /// Adds captured test cases: the failed and errored ones, grouped by their report.
    /// Cases of other statuses are dropped; the same case given twice counts once.
    pub fn add_cases(&mut self, cases: Vec<TestCase>) {
        for case in cases.into_iter().filter(TestCase::is_failed) {
            let entry = self
                .failed_cases
                .entry(case.report_arn.clone())
                .or_insert_with(|| CasesRead::Read(Vec::new()));
            if let CasesRead::Read(list) = entry
                && !list.contains(&case)
            {
                list.push(case);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_prefix_and_name() {
        assert_eq!(
            identity("checkout.spec.ts", "pays"),
            "checkout.spec.ts::pays"
        );
        assert_eq!(identity("", "pays"), "pays");
    }

    #[test]
    fn failed_count_adds_failed_and_errored() {
        let mut r = Report::default();
        assert_eq!(r.failed_count(), None);
        r.status_counts = Some(BTreeMap::from([
            ("FAILED".to_string(), 2),
            ("ERROR".to_string(), 1),
            ("SUCCEEDED".to_string(), 40),
        ]));
        assert_eq!(r.failed_count(), Some(3));
    }

    #[test]
    fn captured_cases_keep_only_failures_once() {
        let case = |name: &str, status: &str| TestCase {
            report_arn: "arn:r".into(),
            name: name.into(),
            status: status.into(),
            ..TestCase::default()
        };
        let mut reports = Reports::default();
        reports.add_cases(vec![case("a", "FAILED"), case("b", "SUCCEEDED")]);
        reports.add_cases(vec![case("a", "FAILED"), case("c", "ERROR")]);
        let CasesRead::Read(list) = &reports.failed_cases["arn:r"] else {
            panic!("not read");
        };
        let names: Vec<&str> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "c"]);
    }
}
