//! The AWS side of test reports (`src/test_reports.rs`) driving the real `aws-sdk-codebuild`
//! client over HTTP against the fake CodeBuild's `BatchGetReports` and `DescribeTestCases`,
//! reached only through the standard variables (`AWS_ENDPOINT_URL_CODEBUILD`, …).
//!
//! The product reads its endpoint and credentials from the environment only, so this test
//! binary sets them once, before any client or thread exists, and holds exactly one test
//! (the scenarios run one after the other in it): nothing else reads the environment
//! while it is written.

mod fakes;

use std::time::Duration;

use codebuild_retry_gate::codebuild::CodeBuild;
use codebuild_retry_gate::facts::reports::{CasesRead, ReportRead};
use codebuild_retry_gate::test_reports::ReportReader;
use fakes::{FakeCodeBuild, Fault};
use serde_json::{Value, json};

const ARN: &str = "arn:aws:codebuild:us-east-1:111122223333:report/web-e2e:";

fn arn(id: &str) -> String {
    format!("{ARN}{id}")
}

/// A test report as `BatchGetReports` returns it (`created` as the CLI prints it; the fake
/// sends epoch seconds).
fn report(id: &str, status: &str, counts: Value) -> Value {
    json!({
        "arn": arn(id),
        "type": "TEST",
        "name": "web-e2e",
        "status": status,
        "reportGroupArn": "arn:aws:codebuild:us-east-1:111122223333:report-group/web-e2e",
        "executionId": "arn:aws:codebuild:us-east-1:111122223333:build/web:b1",
        "created": "2026-11-20T14:03:11.123000+00:00",
        "expired": "2026-12-20T14:03:11.123000+00:00",
        "truncated": false,
        "testSummary": {"total": 300, "statusCounts": counts, "durationInNanoSeconds": 1}
    })
}

fn case(report: &str, prefix: &str, name: &str, status: &str) -> Value {
    json!({
        "reportArn": arn(report),
        "testRawDataPath": "s3://bucket/raw.xml",
        "prefix": prefix,
        "name": name,
        "status": status,
        "durationInNanoSeconds": 1000,
        "message": format!("{name}: expected 200, got 502"),
        "expired": "2026-12-20T14:03:11.123000+00:00",
        "testSuiteName": "checkout"
    })
}

fn cases(read: &CasesRead) -> Vec<String> {
    match read {
        CasesRead::Read(list) => list.iter().map(|c| c.identity()).collect(),
        CasesRead::Unreadable(why) => panic!("unreadable: {why}"),
    }
}

#[test]
fn reads_reports_and_their_failed_cases_through_the_sdk() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(FakeCodeBuild::start());
    // SAFETY of the environment: the only test of this binary; no other thread reads it yet.
    for (key, value) in [
        ("AWS_ENDPOINT_URL_CODEBUILD", fake.endpoint().as_str()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST"),
        ("AWS_SECRET_ACCESS_KEY", "secret"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/nonexistent"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent"),
    ] {
        unsafe { std::env::set_var(key, value) };
    }
    runtime.block_on(scenarios(&fake));
}

async fn scenarios(fake: &FakeCodeBuild) {
    let aws = codebuild_retry_gate::aws::Aws::load(Duration::from_secs(5), None)
        .await
        .unwrap();
    let codebuild = CodeBuild::new(&aws);

    // A failed report with 150 FAILED cases (two pages) and one ERROR, among passes; a
    // coverage report; a report CodeBuild does not know.
    fake.add_report(json!({"reports": [
        report("r1", "FAILED", json!({"FAILED": 150, "ERROR": 1, "SUCCEEDED": 149})),
        {"arn": arn("cov"), "type": "CODE_COVERAGE", "status": "SUCCEEDED",
         "codeCoverageSummary": {"lineCoveragePercentage": 80.0}},
    ]}));
    let mut list: Vec<Value> = (0..150)
        .map(|i| case("r1", "checkout.spec.ts", &format!("pays {i}"), "FAILED"))
        .collect();
    list.push(case("r1", "", "setup", "ERROR"));
    list.extend((0..149).map(|i| case("r1", "cart.spec.ts", &format!("adds {i}"), "SUCCEEDED")));
    fake.add_test_cases(json!({ "testCases": list }));

    let reader = ReportReader::new(codebuild.clone());
    let wanted = [arn("r1"), arn("cov"), arn("gone"), arn("r1")];
    let got = reader.read(&wanted).await;
    let ReportRead::Found(r1) = &got.reports[&arn("r1")] else {
        panic!("r1: {:?}", got.reports[&arn("r1")]);
    };
    assert_eq!(r1.failed_count(), Some(151));
    assert_eq!(r1.status.as_deref(), Some("FAILED"));
    assert!(r1.created.is_some() && r1.expired.is_some());
    let failed = cases(&got.failed_cases[&arn("r1")]);
    assert_eq!(failed.len(), 151, "every page of FAILED, then ERROR");
    assert!(failed.contains(&"checkout.spec.ts::pays 149".to_string()));
    assert!(failed.contains(&"setup".to_string()));
    assert!(!failed.iter().any(|c| c.contains("adds")), "only failures");
    assert!(matches!(got.reports[&arn("cov")], ReportRead::Found(_)));
    assert!(
        !got.failed_cases.contains_key(&arn("cov")),
        "a coverage report has no test cases to read"
    );
    assert_eq!(got.reports[&arn("gone")], ReportRead::NotFound);
    assert_eq!(
        fake.count("BatchGetReports"),
        1,
        "one call for three reports"
    );
    // FAILED: two pages of 100; ERROR: one page.
    let describes: Vec<Value> = fake
        .calls()
        .into_iter()
        .filter(|c| c.op == "DescribeTestCases")
        .map(|c| c.body)
        .collect();
    assert_eq!(describes.len(), 3, "{describes:?}");
    assert_eq!(describes[0]["filter"]["status"], "FAILED");
    assert_eq!(describes[0]["maxResults"], 100);
    assert!(describes[1]["nextToken"].is_string());
    assert_eq!(describes[2]["filter"]["status"], "ERROR");

    // Cached for the run: asking again reads nothing.
    let again = reader.read(&[arn("r1"), arn("gone")]).await;
    assert_eq!(again.reports[&arn("gone")], ReportRead::NotFound);
    assert_eq!(cases(&again.failed_cases[&arn("r1")]).len(), 151);
    assert_eq!(fake.count("BatchGetReports"), 1);
    assert_eq!(fake.count("DescribeTestCases"), 3);

    // A report whose summary counts no failure: no DescribeTestCases; its (empty) list is
    // known. One still GENERATING: its cases are not read (the judgment refuses it).
    fake.add_report(json!([
        report("green", "SUCCEEDED", json!({"SUCCEEDED": 10})),
        report("busy", "GENERATING", json!({})),
    ]));
    let got = reader.read(&[arn("green"), arn("busy")]).await;
    assert_eq!(
        cases(&got.failed_cases[&arn("green")]),
        Vec::<String>::new()
    );
    assert!(!got.failed_cases.contains_key(&arn("busy")));
    assert_eq!(fake.count("DescribeTestCases"), 3);

    // A report whose summary counts FAILED cases and no ERROR case: only FAILED is read;
    // one that does not list ERROR: both are read (its count is not known).
    fake.add_report(json!([
        report(
            "no-errors",
            "FAILED",
            json!({"FAILED": 2, "ERROR": 0, "SUCCEEDED": 9})
        ),
        report("unlisted", "FAILED", json!({"FAILED": 1, "SUCCEEDED": 9})),
    ]));
    fake.add_test_cases(json!([
        case("no-errors", "a", "one", "FAILED"),
        case("no-errors", "a", "two", "FAILED"),
        case("unlisted", "b", "three", "FAILED"),
    ]));
    let got = reader.read(&[arn("no-errors"), arn("unlisted")]).await;
    assert_eq!(cases(&got.failed_cases[&arn("no-errors")]).len(), 2);
    assert_eq!(cases(&got.failed_cases[&arn("unlisted")]), ["b::three"]);
    let statuses = |report: &str| -> Vec<String> {
        fake.calls()
            .into_iter()
            .filter(|c| c.op == "DescribeTestCases" && c.body["reportArn"] == arn(report))
            .map(|c| c.body["filter"]["status"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(statuses("no-errors"), ["FAILED"]);
    let mut both = statuses("unlisted");
    both.sort();
    assert_eq!(both, ["ERROR", "FAILED"]);

    // 150 reports: two BatchGetReports calls of at most 100 ARNs.
    let many: Vec<String> = (0..150).map(|i| arn(&format!("m{i}"))).collect();
    let before = fake.count("BatchGetReports");
    let got = ReportReader::new(codebuild.clone()).read(&many).await;
    assert_eq!(fake.count("BatchGetReports") - before, 2);
    assert!(got.reports.values().all(|r| *r == ReportRead::NotFound));
    assert_eq!(got.reports.len(), 150);

    // Access denied on the test cases: unreadable, with CodeBuild's error; nothing ends.
    fake.add_report(report("denied", "FAILED", json!({"FAILED": 1})));
    fake.add_test_cases(json!([case("denied", "", "pays", "FAILED")]));
    fake.inject("DescribeTestCases", Fault::Status(403), 1);
    let got = reader.read(&[arn("denied")]).await;
    match &got.failed_cases[&arn("denied")] {
        CasesRead::Unreadable(why) => assert!(
            why.contains("DescribeTestCases") && why.contains("AccessDeniedException"),
            "{why}"
        ),
        other => panic!("read despite the denial: {other:?}"),
    }

    // BatchGetReports fails (after the SDK's retries): every report of the call is
    // unreadable, with the reason.
    fake.inject("BatchGetReports", Fault::Status(403), 1);
    let got = ReportReader::new(codebuild.clone())
        .read(&[arn("r1")])
        .await;
    match &got.reports[&arn("r1")] {
        ReportRead::Unreadable(why) => assert!(why.contains("BatchGetReports"), "{why}"),
        other => panic!("read despite the denial: {other:?}"),
    }

    // A report that expired (removed) between the two calls: its cases are unreadable.
    fake.add_report(report("expiring", "FAILED", json!({"FAILED": 1})));
    fake.inject(
        "DescribeTestCases",
        Fault::Error(
            "ResourceNotFoundException".into(),
            "Report does not exist".into(),
        ),
        1,
    );
    let got = reader.read(&[arn("expiring")]).await;
    assert!(matches!(
        &got.failed_cases[&arn("expiring")],
        CasesRead::Unreadable(why) if why.contains("ResourceNotFoundException")
    ));
}
