//! AWS CLI JSON → test reports: `aws codebuild batch-get-reports` output (or one report
//! object, or a list of them) and `aws codebuild describe-test-cases` output (or a list of
//! test cases; each case carries its `reportArn`).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{LoadError, RawTime, items, time};
use crate::facts::reports::{Report, ReportRead, Reports, TestCase};

/// Reports from `batch-get-reports` output: those found, and those CodeBuild did not find
/// (`reportsNotFound`), by ARN.
pub fn reports_from_json(text: &str) -> Result<Reports, LoadError> {
    const WHAT: &str = "not a CodeBuild reports capture";
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| LoadError {
        what: WHAT,
        message: e.to_string(),
    })?;
    let mut out = Reports::default();
    if let Some(missing) = value.get("reportsNotFound") {
        let missing: Vec<String> =
            serde_json::from_value(missing.clone()).map_err(|e| LoadError {
                what: "malformed CodeBuild reports capture",
                message: format!("reportsNotFound: {e}"),
            })?;
        for arn in missing {
            out.reports.insert(arn, ReportRead::NotFound);
        }
    }
    let list = match &value {
        serde_json::Value::Object(map)
            if !map.contains_key("reports") && !map.contains_key("arn") =>
        {
            if out.reports.is_empty() {
                return Err(LoadError {
                    what: WHAT,
                    message:
                        "expected `reports`, `reportsNotFound` or a report object with an `arn`"
                            .into(),
                });
            }
            Vec::new()
        }
        _ => items(text, "reports", "report", WHAT)?,
    };
    for (i, item) in list.into_iter().enumerate() {
        let raw: RawReport = serde_json::from_value(item).map_err(|e| LoadError {
            what: "malformed CodeBuild report",
            message: format!("report #{}: {e}", i + 1),
        })?;
        let report = raw.into_fact()?;
        out.reports
            .insert(report.arn.clone(), ReportRead::Found(report));
    }
    Ok(out)
}

/// Test cases from `describe-test-cases` output (`{"testCases": [...]}`) or a list of them.
pub fn test_cases_from_json(text: &str) -> Result<Vec<TestCase>, LoadError> {
    const WHAT: &str = "not a CodeBuild test cases capture";
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| LoadError {
        what: WHAT,
        message: e.to_string(),
    })?;
    let list = match value {
        serde_json::Value::Array(list) => list,
        serde_json::Value::Object(mut map) => {
            match map.remove("testCases") {
                Some(serde_json::Value::Array(list)) => list,
                _ => {
                    return Err(LoadError {
                    what: WHAT,
                    message: "expected `testCases` (the output of `aws codebuild describe-test-cases`)".into(),
                });
                }
            }
        }
        _ => {
            return Err(LoadError {
                what: WHAT,
                message: "expected a JSON object or array".into(),
            });
        }
    };
    list.into_iter()
        .enumerate()
        .map(|(i, item)| {
            let raw: RawTestCase = serde_json::from_value(item).map_err(|e| LoadError {
                what: "malformed CodeBuild test case",
                message: format!("test case #{}: {e}", i + 1),
            })?;
            raw.into_fact().map_err(|mut e| {
                e.message = format!("test case #{}: {}", i + 1, e.message);
                e
            })
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawSummary {
    total: Option<i64>,
    status_counts: Option<BTreeMap<String, i64>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawReport {
    arn: Option<String>,
    r#type: Option<String>,
    status: Option<String>,
    execution_id: Option<String>,
    created: Option<RawTime>,
    expired: Option<RawTime>,
    truncated: Option<bool>,
    test_summary: Option<RawSummary>,
}

impl RawReport {
    fn into_fact(self) -> Result<Report, LoadError> {
        let arn = self.arn.filter(|a| !a.is_empty()).ok_or(LoadError {
            what: "malformed CodeBuild report",
            message: "a report has no `arn`".into(),
        })?;
        let (total, status_counts) = match self.test_summary {
            Some(s) => (s.total, Some(s.status_counts.unwrap_or_default())),
            None => (None, None),
        };
        Ok(Report {
            arn,
            kind: self.r#type,
            status: self.status,
            execution_id: self.execution_id,
            created: time(self.created)?,
            expired: time(self.expired)?,
            truncated: self.truncated.unwrap_or(false),
            total,
            status_counts,
        })
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTestCase {
    report_arn: Option<String>,
    prefix: Option<String>,
    name: Option<String>,
    status: Option<String>,
    message: Option<String>,
    expired: Option<RawTime>,
    test_suite_name: Option<String>,
}

impl RawTestCase {
    fn into_fact(self) -> Result<TestCase, LoadError> {
        let report_arn = self.report_arn.filter(|a| !a.is_empty()).ok_or(LoadError {
            what: "malformed CodeBuild test case",
            message: "it has no `reportArn` (describe-test-cases prints it with every case)".into(),
        })?;
        Ok(TestCase {
            report_arn,
            prefix: self.prefix.unwrap_or_default(),
            name: self.name.unwrap_or_default(),
            status: self.status.unwrap_or_default(),
            message: self.message.unwrap_or_default(),
            expired: time(self.expired)?,
            suite: self.test_suite_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Timestamp;

    #[test]
    fn reads_batch_get_reports_output() {
        let text = r#"{
            "reports": [{
                "arn": "arn:aws:codebuild:us-east-1:1:report/web-tests:abc",
                "type": "TEST", "status": "FAILED", "truncated": false,
                "created": "2026-11-20T14:03:11.123000+00:00", "expired": 1797775391,
                "testSummary": {"total": 10, "statusCounts": {"FAILED": 1, "SUCCEEDED": 9},
                                "durationInNanoSeconds": 5}
            }],
            "reportsNotFound": ["arn:aws:codebuild:us-east-1:1:report/web-tests:gone"]
        }"#;
        let reports = reports_from_json(text).unwrap();
        let ReportRead::Found(r) =
            &reports.reports["arn:aws:codebuild:us-east-1:1:report/web-tests:abc"]
        else {
            panic!("not found");
        };
        assert_eq!(r.failed_count(), Some(1));
        assert_eq!(r.expired, Some(Timestamp(1_797_775_391_000)));
        assert_eq!(r.created, Some(Timestamp(1_795_183_391_123)));
        assert_eq!(
            reports.reports["arn:aws:codebuild:us-east-1:1:report/web-tests:gone"],
            ReportRead::NotFound
        );
        assert!(reports_from_json(r#"{"builds": []}"#).is_err());
        assert!(reports_from_json(r#"{"reports": [{"type": "TEST"}]}"#).is_err());
    }

    #[test]
    fn reads_describe_test_cases_output() {
        let text = r#"{"testCases": [
            {"reportArn": "arn:r", "prefix": "checkout.spec.ts", "name": "pays",
             "status": "FAILED", "message": "expected 200", "durationInNanoSeconds": 1},
            {"reportArn": "arn:r", "name": "lists", "status": "SUCCEEDED"}
        ], "nextToken": "x"}"#;
        let cases = test_cases_from_json(text).unwrap();
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].identity(), "checkout.spec.ts::pays");
        assert_eq!(cases[1].identity(), "lists");
        let err = test_cases_from_json(r#"{"testCases": [{"name": "x"}]}"#).unwrap_err();
        assert!(err.message.contains("test case #1"), "{err}");
    }
}
