//! The fakes speak the real wire formats: the real `aws-sdk-codebuild` and `octocrab` clients,
//! configured as the product configures them, talk to them over HTTP on 127.0.0.1.
//!
//! These tests also pin down client behaviour the gate depends on (retries, timeouts, how errors
//! surface, GitHub Enterprise path prefixes), so a client upgrade that changes it shows up here.

mod fakes;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::config::retry::RetryConfig;
use aws_sdk_codebuild::config::timeout::TimeoutConfig;
use aws_sdk_codebuild::config::{Credentials, Region};
use aws_sdk_codebuild::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_codebuild::operation::list_build_batches_for_project::ListBuildBatchesForProjectError;
use aws_sdk_codebuild::operation::retry_build_batch::RetryBuildBatchError;
use aws_sdk_codebuild::types::{
    BuildBatchPhaseType, BuildPhaseType, RetryBuildBatchType, SortOrderType, StatusType,
};
use fakes::{FakeCodeBuild, FakeGitHub, Fault, GitHubFault, RecordedStatus};
use octocrab::Octocrab;
use octocrab::models::StatusState;
use serde_json::{Value, json};

const SHA: &str = "b80469b84b2d451c62f746b484e61ceb95bd447e";

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/batches")
        .join(name)
}

fn epoch(iso: &str) -> f64 {
    fakes::codebuild::iso_to_epoch(iso)
        .and_then(|v| v.as_f64())
        .expect("an RFC 3339 timestamp")
}

/// A client as the product builds it: the default chain, with the endpoint, region and
/// credentials that the standard variables would supply.
async fn client_with(
    fake: &FakeCodeBuild,
    retry: Option<RetryConfig>,
    timeout: Option<TimeoutConfig>,
) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(fake.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKIDTEST", "secret", None, None, "test"));
    if let Some(retry) = retry {
        loader = loader.retry_config(retry);
    }
    if let Some(timeout) = timeout {
        loader = loader.timeout_config(timeout);
    }
    Client::new(&loader.load().await)
}

/// The SDK's defaults (standard retry: 3 attempts, exponential backoff from 1 s).
async fn default_client(fake: &FakeCodeBuild) -> Client {
    client_with(fake, None, None).await
}

/// Standard retry with a 1 ms initial backoff, so retry tests stay fast.
async fn fast_client(fake: &FakeCodeBuild) -> Client {
    let retry = RetryConfig::standard()
        .with_max_attempts(3)
        .with_initial_backoff(Duration::from_millis(1))
        .with_max_backoff(Duration::from_millis(5));
    client_with(fake, Some(retry), None).await
}

/// One HTTP/1.1 request by hand, for what the SDK would never send.
fn raw_request(
    endpoint: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = endpoint.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).expect("connect to the fake");
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("receive");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a complete response");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Copies of the provisioning-fault batch in project `acme-api`, one per start time.
fn batches_started_at(fake: &FakeCodeBuild, starts: &[f64]) -> Vec<String> {
    let text = std::fs::read_to_string(example("provisioning-fault").join("batch.json"))
        .expect("example batch");
    let template: Value = serde_json::from_str(&text).expect("JSON");
    let template = template["buildBatches"][0].clone();
    starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            let mut batch = template.clone();
            let id = format!("acme-api:00000000-0000-4000-8000-{i:012}");
            batch["arn"] = json!(format!(
                "arn:aws:codebuild:us-east-1:111122223333:build-batch/{id}"
            ));
            batch["id"] = json!(id);
            batch["startTime"] = json!(start);
            batch["buildBatchNumber"] = json!(100 + i);
            fake.add_batch(batch)
        })
        .collect()
}

// ---------------------------------------------------------------- CodeBuild: reading

#[tokio::test]
async fn batch_get_build_batches_reads_a_loaded_example() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    assert_eq!(id, "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6");
    let client = default_client(&fake).await;

    let out = client
        .batch_get_build_batches()
        .ids(&id)
        .ids("acme-api:no-such-batch")
        .send()
        .await
        .expect("batch_get_build_batches");
    assert_eq!(out.build_batches_not_found(), ["acme-api:no-such-batch"]);
    let [batch] = out.build_batches() else {
        panic!("one batch expected: {out:?}");
    };
    assert_eq!(batch.build_batch_status(), Some(&StatusType::Failed));
    assert_eq!(
        batch.resolved_source_version(),
        Some("b80469b84b2d451c62f746b484e61ceb95bd447e")
    );
    // ISO-8601 in the capture, epoch seconds on the wire, a DateTime in the SDK.
    let start = batch.start_time().expect("startTime");
    assert_eq!(
        start.as_secs_f64(),
        epoch("2026-11-20T14:03:11.123000+00:00")
    );
    // The SDK parses the epoch number as an f64: .123 comes back as .122999906, so compare
    // to the millisecond.
    assert_eq!(start.subsec_nanos().div_ceil(1_000_000), 123);
    let phases: Vec<_> = batch
        .phases()
        .iter()
        .map(|p| {
            (
                p.phase_type().map(|t| t.as_str().to_string()),
                p.phase_status().map(|s| s.as_str().to_string()),
            )
        })
        .collect();
    assert_eq!(
        phases,
        [
            (Some("SUBMITTED".into()), Some("SUCCEEDED".into())),
            (Some("DOWNLOAD_BATCHSPEC".into()), Some("SUCCEEDED".into())),
            (Some("IN_PROGRESS".into()), Some("FAILED".into())),
            (Some("FAILED".into()), None),
        ]
    );
    assert!(batch.phases()[3].end_time().is_none());
    let groups: Vec<_> = batch
        .build_groups()
        .iter()
        .map(|g| {
            (
                g.identifier().unwrap_or_default().to_string(),
                g.current_build_summary()
                    .and_then(|s| s.build_status())
                    .map(|s| s.as_str().to_string()),
            )
        })
        .collect();
    assert_eq!(
        groups,
        [
            ("DOWNLOAD_SOURCE".to_string(), Some("SUCCEEDED".to_string())),
            ("linux_x86".to_string(), Some("FAILED".to_string())),
            ("linux_arm".to_string(), Some("SUCCEEDED".to_string())),
        ]
    );
    let summary = batch.build_groups()[1]
        .current_build_summary()
        .expect("summary");
    assert_eq!(
        summary.requested_on().map(|t| t.as_secs_f64()),
        Some(epoch("2026-11-20T14:03:52.228000+00:00"))
    );
    // `no_artifacts` is outside ArtifactsType: kept as text too.
    assert_eq!(
        summary
            .primary_artifact()
            .and_then(|a| a.r#type())
            .map(|t| t.as_str()),
        Some("no_artifacts")
    );

    // The failed build: a phase status outside StatusType comes back as text.
    let build_arn = summary.arn().expect("arn");
    let builds = client
        .batch_get_builds()
        .ids(build_arn)
        .send()
        .await
        .expect("batch_get_builds");
    let [build] = builds.builds() else {
        panic!("one build expected: {builds:?}");
    };
    let provisioning = build
        .phases()
        .iter()
        .find(|p| p.phase_type() == Some(&BuildPhaseType::Provisioning))
        .expect("a PROVISIONING phase");
    let status = provisioning.phase_status().expect("phaseStatus");
    assert_eq!(status.as_str(), "CLIENT_ERROR");
    assert!(!StatusType::values().contains(&"CLIENT_ERROR"));
    #[allow(deprecated)]
    let unknown = matches!(status, StatusType::Unknown(_));
    assert!(unknown, "{status:?}");
    assert_eq!(
        provisioning.contexts()[0].status_code(),
        Some("BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE")
    );

    assert_eq!(fake.count("BatchGetBuildBatches"), 1);
    assert_eq!(fake.count("BatchGetBuilds"), 1);
    let calls = fake.calls();
    assert_eq!(
        calls[0].body,
        json!({"ids": [id, "acme-api:no-such-batch"]})
    );
    assert_eq!(calls[0].access_key_id.as_deref(), Some("AKIDTEST"));
}

#[tokio::test]
async fn an_unknown_group_status_comes_back_as_text() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("wire-format"));
    let client = default_client(&fake).await;
    let out = client
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect("batch_get_build_batches");
    let batch = &out.build_batches()[0];
    let package = batch
        .build_groups()
        .iter()
        .find(|g| g.identifier() == Some("package"))
        .expect("group package");
    let status = package
        .current_build_summary()
        .and_then(|s| s.build_status())
        .expect("buildStatus");
    assert_eq!(status.as_str(), "PENDING");
    #[allow(deprecated)]
    let unknown = matches!(status, StatusType::Unknown(_));
    assert!(unknown, "{status:?}");
    // Epoch numbers in the capture are served unchanged.
    assert_eq!(
        batch.start_time().map(|t| t.as_secs_f64()),
        Some(1_795_506_696.208)
    );
}

#[tokio::test]
async fn every_shipped_example_loads_and_parses() {
    let dirs = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/batches"))
        .expect("examples/batches");
    let mut seen = 0;
    for dir in dirs {
        let dir = dir.expect("entry").path();
        if !dir.join("batch.json").exists() {
            continue;
        }
        let fake = FakeCodeBuild::start().await;
        let id = fake.load_example(&dir);
        let client = default_client(&fake).await;
        let out = client
            .batch_get_build_batches()
            .ids(&id)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", dir.display()));
        let batch = &out.build_batches()[0];
        assert_eq!(batch.id(), Some(id.as_str()), "{}", dir.display());
        assert!(batch.start_time().is_some(), "{}", dir.display());
        if dir.join("history.json").exists() {
            let project = batch.project_name().expect("project");
            let listed = client
                .list_build_batches_for_project()
                .project_name(project)
                .send()
                .await
                .expect("list");
            assert!(listed.ids().len() > 1, "{}", dir.display());
        }
        seen += 1;
    }
    assert!(seen >= 9, "only {seen} examples");
}

#[tokio::test]
async fn more_than_100_ids_is_invalid_input() {
    let fake = FakeCodeBuild::start().await;
    let client = default_client(&fake).await;
    let ids: Vec<String> = (0..101).map(|i| format!("p:{i}")).collect();
    let err = client
        .batch_get_build_batches()
        .set_ids(Some(ids))
        .send()
        .await
        .expect_err("101 ids");
    assert!(err.into_service_error().is_invalid_input_exception());
    assert_eq!(
        fake.count("BatchGetBuildBatches"),
        1,
        "the SDK does not check lengths"
    );
}

#[tokio::test]
async fn list_build_batches_pages_newest_first() {
    let fake = FakeCodeBuild::start().await;
    let base = 1_795_000_000.0;
    let ids = batches_started_at(
        &fake,
        &[
            base + 30.0,
            base + 10.0,
            base + 70.0,
            base + 50.0,
            base + 20.0,
            base + 60.0,
            base + 40.0,
        ],
    );
    let client = fast_client(&fake).await;

    let mut pages = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let out = client
            .list_build_batches_for_project()
            .project_name("acme-api")
            .max_results(3)
            .set_next_token(token.clone())
            .send()
            .await
            .expect("list page");
        pages.push(out.ids().to_vec());
        match out.next_token() {
            Some(next) => token = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    let order: Vec<String> = pages.concat();
    let expected: Vec<String> = [2, 5, 3, 6, 0, 4, 1]
        .iter()
        .map(|&i| ids[i].clone())
        .collect();
    assert_eq!(order, expected);
    assert_eq!(fake.count("ListBuildBatchesForProject"), 3);
    let tokens: Vec<Value> = fake
        .calls()
        .iter()
        .map(|c| c.body["nextToken"].clone())
        .collect();
    assert!(tokens[0].is_null() && tokens[1].is_string() && tokens[1] != tokens[2]);

    // Ascending, and the SDK's own paginator.
    let ascending: Vec<String> = client
        .list_build_batches_for_project()
        .project_name("acme-api")
        .sort_order(SortOrderType::Ascending)
        .max_results(2)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .expect("paginate");
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(ascending, reversed);

    let err = client
        .list_build_batches_for_project()
        .project_name("acme-api")
        .next_token("not-a-token")
        .send()
        .await
        .expect_err("bad token");
    assert!(err.into_service_error().is_invalid_input_exception());

    let err = client
        .list_build_batches_for_project()
        .project_name("no-such-project")
        .send()
        .await
        .expect_err("unknown project");
    assert!(matches!(
        err.into_service_error(),
        ListBuildBatchesForProjectError::ResourceNotFoundException(_)
    ));
}

// ---------------------------------------------------------------- CodeBuild: retrying

#[tokio::test]
async fn retry_with_the_same_token_retries_once() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    let client = default_client(&fake).await;
    let send = || {
        client
            .retry_build_batch()
            .id(&id)
            .idempotency_token("gate-6ae12c97-attempt-1")
            .retry_type(RetryBuildBatchType::RetryFailedBuilds)
            .send()
    };
    let first = send().await.expect("first retry");
    let second = send().await.expect("replayed retry");
    // Identical but for the request id.
    assert_eq!(first.build_batch(), second.build_batch());
    assert_eq!(fake.retries_performed(&id), 1);
    assert_eq!(fake.count("RetryBuildBatch"), 2);

    let batch = first.build_batch().expect("buildBatch");
    assert_eq!(batch.build_batch_status(), Some(&StatusType::InProgress));
    assert_eq!(batch.current_phase(), Some("SUBMITTED"));
    assert!(!batch.complete());
    assert!(batch.end_time().is_none());
    let phases: Vec<_> = batch
        .phases()
        .iter()
        .map(|p| {
            (
                p.phase_type().cloned(),
                p.phase_status().map(|s| s.as_str().to_string()),
            )
        })
        .collect();
    assert_eq!(
        phases[3..],
        [
            (Some(BuildBatchPhaseType::Failed), Some("RETRY".to_string())),
            (Some(BuildBatchPhaseType::Submitted), None),
        ]
    );
    let group = |name: &str| {
        batch
            .build_groups()
            .iter()
            .find(|g| g.identifier() == Some(name))
            .expect("group")
            .clone()
    };
    let retried = group("linux_x86");
    assert_eq!(retried.prior_build_summary_list().len(), 1);
    assert_eq!(
        retried.prior_build_summary_list()[0].build_status(),
        Some(&StatusType::Failed)
    );
    let current = retried.current_build_summary().expect("current");
    assert_eq!(current.build_status(), Some(&StatusType::InProgress));
    assert!(group("linux_arm").prior_build_summary_list().is_empty());
    assert!(
        group("DOWNLOAD_SOURCE")
            .prior_build_summary_list()
            .is_empty()
    );

    // The new build exists, in progress.
    let builds = client
        .batch_get_builds()
        .ids(current.arn().expect("arn"))
        .send()
        .await
        .expect("new build");
    assert_eq!(
        builds.builds()[0].build_status(),
        Some(&StatusType::InProgress)
    );

    // CodeBuild finishes it; the next retry closes the new FAILED phase as RETRY.
    fake.set_batch_status(&id, "FAILED");
    assert_eq!(fake.batch(&id)["complete"], json!(true));
    client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("gate-6ae12c97-attempt-2")
        .send()
        .await
        .expect("second retry");
    let retry_phases = fake.batch(&id)["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter(|p| p["phaseType"] == "FAILED" && p["phaseStatus"] == "RETRY")
        .count();
    assert_eq!(retry_phases, 2);
    assert_eq!(fake.retries_performed(&id), 2);
}

#[tokio::test]
async fn retry_all_builds_retries_every_group() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("collateral-stopped"));
    let client = default_client(&fake).await;
    let out = client
        .retry_build_batch()
        .id(&id)
        .retry_type(RetryBuildBatchType::RetryAllBuilds)
        .send()
        .await
        .expect("retry");
    let groups = out.build_batch().expect("batch").build_groups();
    assert!(groups.len() > 2);
    for group in groups {
        assert_eq!(group.prior_build_summary_list().len(), 1, "{group:?}");
    }
}

#[tokio::test]
async fn same_token_different_retry_type_is_a_mismatch() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    let client = default_client(&fake).await;
    client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("t-1")
        .retry_type(RetryBuildBatchType::RetryFailedBuilds)
        .send()
        .await
        .expect("first");
    let err = client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("t-1")
        .retry_type(RetryBuildBatchType::RetryAllBuilds)
        .send()
        .await
        .expect_err("mismatch");
    let err = err.into_service_error();
    // Not modeled for RetryBuildBatch: the SDK reports it as unhandled, with its code.
    #[allow(deprecated)]
    let unhandled = matches!(err, RetryBuildBatchError::Unhandled(_));
    assert!(unhandled, "{err:?}");
    assert_eq!(err.code(), Some("IdempotentParameterMismatchException"));
    assert_eq!(fake.retries_performed(&id), 1);
}

#[tokio::test]
async fn retrying_an_in_progress_batch_is_invalid_input() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("in-progress"));
    let client = default_client(&fake).await;
    let err = client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("t")
        .send()
        .await
        .expect_err("not retryable");
    let err = err.into_service_error();
    assert!(
        matches!(err, RetryBuildBatchError::InvalidInputException(_)),
        "{err:?}"
    );
    assert!(err.message().unwrap_or_default().contains("IN_PROGRESS"));
    assert_eq!(fake.retries_performed(&id), 0);

    // A succeeded batch cannot be retried either; a stopped one can.
    let done = fake.load_example(&example("succeeded-after-retry"));
    let err = client
        .retry_build_batch()
        .id(&done)
        .send()
        .await
        .expect_err("succeeded");
    assert!(err.into_service_error().is_invalid_input_exception());
    fake.set_batch_status(&done, "STOPPED");
    client
        .retry_build_batch()
        .id(&done)
        .send()
        .await
        .expect("a stopped batch is retryable");
}

#[tokio::test]
async fn retrying_an_unknown_batch_is_not_found() {
    let fake = FakeCodeBuild::start().await;
    let client = default_client(&fake).await;
    let err = client
        .retry_build_batch()
        .id("acme-api:00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect_err("unknown");
    assert!(matches!(
        err.into_service_error(),
        RetryBuildBatchError::ResourceNotFoundException(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_are_atomic() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    let a = default_client(&fake).await;
    let b = default_client(&fake).await;

    // Two gates racing with the same token: one retry, both answered alike.
    let (x, y) = tokio::join!(
        a.retry_build_batch()
            .id(&id)
            .idempotency_token("race")
            .send(),
        b.retry_build_batch()
            .id(&id)
            .idempotency_token("race")
            .send(),
    );
    assert_eq!(x.expect("a").build_batch(), y.expect("b").build_batch());
    assert_eq!(fake.retries_performed(&id), 1);

    // Two retries with different tokens of a fresh failure: exactly one wins.
    fake.set_batch_status(&id, "FAILED");
    let (x, y) = tokio::join!(
        a.retry_build_batch().id(&id).idempotency_token("p").send(),
        b.retry_build_batch().id(&id).idempotency_token("q").send(),
    );
    let results = [x.map(|_| ()), y.map(|_| ())];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    let loser = results
        .into_iter()
        .find_map(Result::err)
        .expect("one error");
    assert!(loser.into_service_error().is_invalid_input_exception());
    assert_eq!(fake.retries_performed(&id), 2);
}

/// Frozen reads: every reader sees the batches as they stood at the freeze, while retries
/// act on the live batches (the worst interleaving of gates running at once).
#[tokio::test]
async fn frozen_reads_answer_from_before_the_retries() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    let client = default_client(&fake).await;
    let read = || async {
        let out = client
            .batch_get_build_batches()
            .ids(&id)
            .send()
            .await
            .unwrap();
        out.build_batches()[0]
            .build_batch_status()
            .map(|s| s.as_str().to_string())
    };
    fake.freeze_batch_reads();
    client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("t1")
        .send()
        .await
        .expect("the live batch is retried");
    assert_eq!(fake.retries_performed(&id), 1);
    assert_eq!(read().await.as_deref(), Some("FAILED"), "as it stood");
    fake.thaw_batch_reads();
    assert_eq!(read().await.as_deref(), Some("IN_PROGRESS"), "as it is");
}

#[tokio::test]
async fn a_retry_by_hand_counts_but_is_not_a_call() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    let batch = fake.retry_by_hand(&id, false);
    assert_eq!(batch["buildBatchStatus"], "IN_PROGRESS");
    assert_eq!(fake.retries_performed(&id), 1);
    assert!(fake.calls().is_empty());
    fake.set_batch_status(&id, "SUCCEEDED");
    let batch = fake.batch(&id);
    assert_eq!(batch["buildBatchStatus"], "SUCCEEDED");
    assert!(
        batch["buildGroups"]
            .as_array()
            .expect("groups")
            .iter()
            .all(|g| g["currentBuildSummary"]["buildStatus"] == "SUCCEEDED")
    );
}

#[tokio::test]
async fn a_scripted_batch_changes_after_each_read() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.update_batch(&id, |b| b["buildBatchStatus"] = json!("IN_PROGRESS"));
    let mut closed = fake.batch(&id);
    closed["buildBatchStatus"] = json!("FAILED");
    closed["startTime"] = json!("2026-11-20T14:03:11.123000+00:00");
    fake.script_batch(&id, vec![closed]);
    let client = default_client(&fake).await;
    let status = || async {
        let out = client
            .batch_get_build_batches()
            .ids(&id)
            .send()
            .await
            .expect("read");
        out.build_batches()[0].build_batch_status().cloned()
    };
    assert_eq!(status().await, Some(StatusType::InProgress), "as it is now");
    assert_eq!(status().await, Some(StatusType::Failed), "the next state");
    assert_eq!(status().await, Some(StatusType::Failed), "then it stays");
    assert_eq!(
        fake.batch(&id)["startTime"],
        json!(epoch("2026-11-20T14:03:11.123000+00:00")),
        "converted to the wire's epoch seconds"
    );
}

// ---------------------------------------------------------------- CodeBuild: faults

#[tokio::test]
async fn throttling_twice_then_success_with_the_standard_retry() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.inject("BatchGetBuildBatches", Fault::Throttle, 2);
    // The SDK's defaults: standard mode, 3 attempts, jittered backoff from 1 s.
    let client = default_client(&fake).await;
    let out = client
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect("third attempt succeeds");
    assert_eq!(out.build_batches().len(), 1);
    assert_eq!(fake.count("BatchGetBuildBatches"), 3);
    let faulted: Vec<bool> = fake.calls().iter().map(|c| c.faulted).collect();
    assert_eq!(faulted, [true, true, false]);
}

#[tokio::test]
async fn throttling_beyond_the_attempts_surfaces_the_exception() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.inject("*", Fault::Throttle, 5);
    let client = fast_client(&fake).await;
    let err = client
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect_err("3 attempts, all throttled");
    assert_eq!(err.code(), Some("ThrottlingException"));
    assert_eq!(fake.count("BatchGetBuildBatches"), 3);
}

#[tokio::test]
async fn a_500_then_success() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.inject("RetryBuildBatch", Fault::Status(500), 1);
    fake.inject("RetryBuildBatch", Fault::Status(503), 1);
    let client = fast_client(&fake).await;
    client
        .retry_build_batch()
        .id(&id)
        .idempotency_token("t")
        .send()
        .await
        .expect("third attempt succeeds");
    assert_eq!(fake.count("RetryBuildBatch"), 3);
    assert_eq!(fake.retries_performed(&id), 1);
}

#[tokio::test]
async fn a_malformed_body_is_an_error_and_not_retried() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.inject("*", Fault::Malformed, 1);
    let client = fast_client(&fake).await;
    let err = client
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect_err("truncated JSON");
    // A success status with a body that does not parse is a ResponseError, not a service error.
    assert!(matches!(err, SdkError::ResponseError(_)), "{err:?}");
    assert_eq!(fake.count("BatchGetBuildBatches"), 1);
}

#[tokio::test]
async fn a_hang_ends_only_by_a_client_timeout() {
    let fake = FakeCodeBuild::start().await;
    let id = fake.load_example(&example("provisioning-fault"));
    fake.inject("*", Fault::Hang, 1);
    // The SDK sets no read or operation timeout by default (only connect, 3.1 s): without this
    // the call would wait the full hour.
    let timeout = TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .build();
    let one_attempt = client_with(
        &fake,
        Some(RetryConfig::standard().with_max_attempts(1)),
        Some(timeout.clone()),
    )
    .await;
    let err = one_attempt
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect_err("timed out");
    assert!(matches!(err, SdkError::TimeoutError(_)), "{err:?}");

    // With retries, an attempt timeout is retried.
    fake.inject("*", Fault::Hang, 1);
    let retrying = client_with(
        &fake,
        Some(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        ),
        Some(timeout),
    )
    .await;
    retrying
        .batch_get_build_batches()
        .ids(&id)
        .send()
        .await
        .expect("second attempt");
    let faulted: Vec<bool> = fake.calls().iter().map(|c| c.faulted).collect();
    assert_eq!(faulted, [true, true, false]);
}

#[tokio::test]
async fn an_injected_exception_carries_its_code_and_message() {
    let fake = FakeCodeBuild::start().await;
    fake.inject(
        "ListBuildBatchesForProject",
        Fault::Error(
            "AccessDeniedException".into(),
            "User: arn:aws:sts::111122223333:assumed-role/gate is not authorized".into(),
        ),
        1,
    );
    // Latency changes nothing but time (no timing is asserted).
    fake.set_latency(Duration::from_millis(5));
    let client = fast_client(&fake).await;
    let err = client
        .list_build_batches_for_project()
        .project_name("acme-api")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(err.message().unwrap_or_default().contains("not authorized"));
    assert_eq!(fake.count("ListBuildBatchesForProject"), 1);
}

#[tokio::test]
async fn the_raw_protocol_headers_and_errors() {
    let fake = FakeCodeBuild::start()
        .await
        .with_latency(Duration::from_millis(1));
    fake.load_example(&example("provisioning-fault"));
    let endpoint = fake.endpoint();
    let signed = "AWS4-HMAC-SHA256 Credential=AKIDRAW/20261120/us-east-1/codebuild/aws4_request, \
                  SignedHeaders=host, Signature=00";
    let send = move |target: &str, auth: Option<&str>, body: &str| {
        let mut headers = vec![
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", target),
        ];
        if let Some(auth) = auth {
            headers.push(("Authorization", auth));
        }
        raw_request(&endpoint, &headers, body)
    };

    let (status, headers, body) = send(
        "CodeBuild_20161006.BatchGetBuildBatches",
        Some(signed),
        r#"{"ids": ["acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6"]}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert!(header(&headers, "x-amzn-requestid").is_some_and(|v| v.len() == 36));
    let body: Value = serde_json::from_str(&body).expect("JSON");
    assert!(body["buildBatches"][0]["startTime"].is_number());
    assert!(
        body["buildBatches"][0]["buildGroups"][1]["currentBuildSummary"]["requestedOn"].is_number()
    );

    let (status, _, body) = send("CodeBuild_20161006.DeleteProject", Some(signed), "{}");
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["__type"],
        "UnknownOperationException"
    );

    let (status, _, body) = send("CodeBuild_20161006.BatchGetBuildBatches", None, "{}");
    assert_eq!(status, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).expect("JSON")["__type"],
        "MissingAuthenticationTokenException"
    );

    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].access_key_id.as_deref(), Some("AKIDRAW"));
    assert_eq!(calls[1].op, "DeleteProject");
}

#[test]
fn iso_timestamps_become_epoch_seconds() {
    let wire = fakes::codebuild::to_wire(json!({
        "startTime": "2026-11-20T14:03:11.123000+00:00",
        "endTime": 1_795_000_000.5,
        "phases": [{"startTime": "2026-11-20T14:03:11+00:00", "phaseStatus": "CLIENT_ERROR"}],
        "sourceVersion": "2026-11-20T14:03:11+00:00",
    }));
    assert_eq!(wire["startTime"], json!(1_795_183_391.123));
    assert_eq!(wire["endTime"], json!(1_795_000_000.5));
    assert_eq!(wire["phases"][0]["startTime"], json!(1_795_183_391));
    assert_eq!(wire["sourceVersion"], "2026-11-20T14:03:11+00:00");
}

// ---------------------------------------------------------------- GitHub

fn octocrab(url: &str, token: Option<&str>) -> Octocrab {
    let builder = Octocrab::builder().base_uri(url).expect("base_uri");
    match token {
        Some(token) => builder.personal_token(token.to_string()).build(),
        None => builder.build(),
    }
    .expect("octocrab")
}

fn github_error(err: &octocrab::Error) -> &octocrab::GitHubError {
    match err {
        octocrab::Error::GitHub { source, .. } => source,
        other => panic!("not a GitHub error: {other:?}"),
    }
}

#[tokio::test]
async fn create_status_is_recorded() {
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("ghs_token1"));
    let status = octo
        .repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Failure)
        .context("codebuild/retry-gate".to_string())
        .description("Refused: unit_tests FAILED in BUILD (COMMAND_EXECUTION_ERROR)".to_string())
        .target("https://example.test/run/1".to_string())
        .send()
        .await
        .expect("create_status");
    assert_eq!(status.state, StatusState::Failure);
    assert_eq!(status.context.as_deref(), Some("codebuild/retry-gate"));
    assert!(status.id.is_some() && status.created_at.is_some());
    assert_eq!(
        status.creator.as_ref().map(|c| c.login.as_str()),
        Some("github-actions[bot]")
    );
    assert_eq!(
        fake.statuses(),
        [RecordedStatus {
            repo: "acme/acme-api".into(),
            sha: SHA.into(),
            state: "failure".into(),
            context: "codebuild/retry-gate".into(),
            description: Some(
                "Refused: unit_tests FAILED in BUILD (COMMAND_EXECUTION_ERROR)".into()
            ),
            target_url: Some("https://example.test/run/1".into()),
            token: Some("ghs_token1".into()),
        }]
    );
    let calls = fake.calls();
    assert_eq!(calls[0].method, "POST");
    assert_eq!(
        calls[0].path,
        format!("/repos/acme/acme-api/statuses/{SHA}")
    );
    assert_eq!(fake.count_posts(), 1);

    // The list endpoint sees it.
    let listed: Value = octo
        .get(
            format!("/repos/acme/acme-api/commits/{SHA}/statuses"),
            None::<&()>,
        )
        .await
        .expect("list");
    assert_eq!(listed[0]["state"], "failure");
}

#[tokio::test]
async fn the_combined_status_holds_the_latest_status_of_each_context() {
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("ghs_token1"));
    fake.add_status(
        "acme/acme-api",
        SHA,
        "failure",
        "codebuild/retry-gate (a)",
        "older",
    );
    for (state, context) in [
        (StatusState::Pending, "codebuild/retry-gate (a)"),
        (StatusState::Success, "codebuild/retry-gate (b)"),
    ] {
        octo.repos("acme", "acme-api")
            .create_status(SHA.to_string(), state)
            .context(context.to_string())
            .send()
            .await
            .expect("create_status");
    }
    // octocrab's own model of the combined status reads it. (Its `combined_status_for_ref`
    // takes only a branch or a tag, `heads/NAME` or `tags/NAME`: not a commit.)
    let combined: octocrab::models::CombinedStatus = octo
        .get(
            format!("/repos/acme/acme-api/commits/{SHA}/status"),
            None::<&()>,
        )
        .await
        .expect("combined status");
    assert_eq!(combined.state, StatusState::Pending);
    assert_eq!(combined.total_count, 2);
    let latest: Vec<(Option<String>, StatusState)> = combined
        .statuses
        .iter()
        .map(|s| (s.context.clone(), s.state))
        .collect();
    assert_eq!(
        latest,
        [
            (
                Some("codebuild/retry-gate (b)".into()),
                StatusState::Success
            ),
            (
                Some("codebuild/retry-gate (a)".into()),
                StatusState::Pending
            ),
        ]
    );
    // Paged over contexts.
    let page: Value = octo
        .get(
            format!("/repos/acme/acme-api/commits/{SHA}/status"),
            Some(&json!({"per_page": 1, "page": 2})),
        )
        .await
        .expect("page 2");
    assert_eq!(page["statuses"].as_array().unwrap().len(), 1);
    assert_eq!(page["statuses"][0]["context"], "codebuild/retry-gate (a)");
    assert_eq!(page["total_count"], 2);
    // Seeded statuses are not calls.
    assert_eq!(
        fake.calls().iter().filter(|c| c.method == "POST").count(),
        2
    );
}

#[tokio::test]
async fn github_enterprise_prefix_is_kept_by_octocrab() {
    let fake = FakeGitHub::start_with_prefix("/api/v3").await;
    assert!(fake.url().ends_with("/api/v3"));
    let octo = octocrab(&fake.url(), Some("ghs_enterprise"));
    octo.repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Pending)
        .context("codebuild/retry-gate".to_string())
        .send()
        .await
        .expect("octocrab 0.54 keeps the path of base_uri");
    assert_eq!(
        fake.calls()[0].path,
        format!("/api/v3/repos/acme/acme-api/statuses/{SHA}")
    );
    assert_eq!(fake.statuses()[0].state, "pending");

    // A full URL given to `_post` bypasses the base entirely and works as well.
    let url = format!("{}/repos/acme/acme-api/statuses/{SHA}", fake.url());
    let response = octo
        ._post(url, Some(&json!({"state": "success", "context": "raw"})))
        .await
        .expect("_post");
    assert_eq!(response.status(), 201);
    assert_eq!(fake.statuses()[1].token.as_deref(), Some("ghs_enterprise"));

    // Without the prefix, the fake answers 404 like a GHES host would.
    let root = octocrab(&fake.root(), Some("ghs_enterprise"));
    let err = root
        .repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Pending)
        .send()
        .await
        .expect_err("no prefix");
    assert_eq!(github_error(&err).status_code, 404);
}

#[tokio::test]
async fn octocrab_skips_a_base_path_that_the_route_already_starts_with() {
    // octocrab joins base path and route unless the route already starts with the base path
    // (a string prefix test): a base of ".../repos" is silently not applied.
    let fake = FakeGitHub::start_with_prefix("/repos").await;
    let octo = octocrab(&fake.url(), Some("t"));
    let err = octo
        .repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Pending)
        .send()
        .await
        .expect_err("prefix dropped");
    assert_eq!(github_error(&err).status_code, 404);
    assert_eq!(
        fake.calls()[0].path,
        format!("/repos/acme/acme-api/statuses/{SHA}")
    );
}

#[tokio::test]
async fn a_description_over_140_characters_is_422() {
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("t"));
    let post = async |description: String| {
        octo.repos("acme", "acme-api")
            .create_status(SHA.to_string(), StatusState::Failure)
            .description(description)
            .send()
            .await
    };
    let err = post("x".repeat(141)).await.expect_err("141 characters");
    let gh = github_error(&err);
    assert_eq!(gh.status_code, 422);
    assert_eq!(gh.message, "Validation Failed");
    let errors = gh.errors.as_ref().expect("errors");
    assert_eq!(errors[0]["field"], "description");
    assert_eq!(
        errors[0]["message"],
        "description is too long (maximum is 140 characters)"
    );
    assert!(fake.statuses().is_empty());
    // Characters, not bytes: 140 'é' are 280 bytes and accepted; 422 is not retried by octocrab.
    post("é".repeat(140)).await.expect("140 characters");
    assert_eq!(fake.count_posts(), 2);

    let err = octo
        .post::<_, Value>(
            format!("/repos/acme/acme-api/statuses/{SHA}"),
            Some(&json!({"state": "broken"})),
        )
        .await
        .expect_err("bad state");
    assert_eq!(github_error(&err).status_code, 422);
}

#[tokio::test]
async fn credentials_are_checked() {
    let fake = FakeGitHub::start().await;
    fake.require_token("ghs_good");
    let send = |octo: Octocrab| async move {
        octo.repos("acme", "acme-api")
            .create_status(SHA.to_string(), StatusState::Success)
            .send()
            .await
    };
    let err = send(octocrab(&fake.url(), None))
        .await
        .expect_err("anonymous");
    let gh = github_error(&err);
    assert_eq!(gh.status_code, 401);
    assert_eq!(gh.message, "Requires authentication");
    let err = send(octocrab(&fake.url(), Some("ghs_bad")))
        .await
        .expect_err("wrong token");
    assert_eq!(github_error(&err).message, "Bad credentials");
    send(octocrab(&fake.url(), Some("ghs_good")))
        .await
        .expect("right token");
    assert_eq!(fake.statuses().len(), 1);
    let tokens: Vec<Option<String>> = fake.calls().into_iter().map(|c| c.token).collect();
    assert_eq!(
        tokens,
        [None, Some("ghs_bad".into()), Some("ghs_good".into())]
    );
}

#[tokio::test]
async fn contents_decode_to_the_bytes_added() {
    let fake = FakeGitHub::start_with_prefix("/api/v3").await;
    let policy = "version: 1\nrules:\n  - name: infrastructure\n    statuses: [FAULT, TIMED_OUT]\n    \
                  phases: [PROVISIONING, QUEUED, DOWNLOAD_SOURCE]\n    max-retries: 1\n";
    fake.add_file(
        "acme/acme-api",
        "main",
        ".github/codebuild-retry-gate.yml",
        policy,
    );
    fake.add_file(
        "acme/acme-api",
        SHA,
        ".github/codebuild-retry-gate.yml",
        "version: 1\n",
    );
    let octo = octocrab(&fake.url(), Some("t"));

    let mut items = octo
        .repos("acme", "acme-api")
        .get_content()
        .path(".github/codebuild-retry-gate.yml")
        .r#ref("main")
        .send()
        .await
        .expect("contents");
    let [file] = items.take_items().try_into().expect("one item");
    assert_eq!(file.r#type, "file");
    assert_eq!(file.encoding.as_deref(), Some("base64"));
    assert_eq!(file.name, "codebuild-retry-gate.yml");
    assert_eq!(file.size as usize, policy.len());
    assert_eq!(file.decoded_content().as_deref(), Some(policy));
    let wrapped = file.content.expect("content");
    assert!(wrapped.lines().count() > 1 && wrapped.lines().all(|l| l.len() <= 60));
    assert!(wrapped.ends_with('\n'));

    // Another ref, the default branch when no ref is given, and raw media type.
    let mut at_sha = octo
        .repos("acme", "acme-api")
        .get_content()
        .path(".github/codebuild-retry-gate.yml")
        .r#ref(SHA)
        .send()
        .await
        .expect("at sha");
    let at_sha = at_sha.take_items().remove(0);
    assert_eq!(at_sha.decoded_content().as_deref(), Some("version: 1\n"));
    let at_sha_sha = at_sha.sha;
    assert_eq!(at_sha_sha, fakes::github::git_blob_sha(b"version: 1\n"));
    // `printf 'hello\n' | git hash-object --stdin`
    assert_eq!(
        fakes::github::git_blob_sha(b"hello\n"),
        "ce013625030ba8dba906f756967f9e9ca394464a"
    );
    let mut default = octo
        .repos("acme", "acme-api")
        .get_content()
        .path(".github/codebuild-retry-gate.yml")
        .send()
        .await
        .expect("default branch");
    assert_eq!(
        default.take_items()[0].decoded_content().as_deref(),
        Some(policy)
    );
    let raw = octo
        .repos("acme", "acme-api")
        .get_content()
        .path(".github/codebuild-retry-gate.yml")
        .r#ref("main")
        .raw()
        .send()
        .await
        .expect("raw");
    assert_eq!(octo.body_to_string(raw).await.expect("utf-8"), policy);

    let err = octo
        .repos("acme", "acme-api")
        .get_content()
        .path(".github/missing.yml")
        .r#ref("main")
        .send()
        .await
        .expect_err("missing");
    let gh = github_error(&err);
    assert_eq!(gh.status_code, 404);
    assert_eq!(gh.message, "Not Found");
    assert!(
        fake.calls()
            .iter()
            .all(|c| c.path.starts_with("/api/v3/repos/acme/acme-api/contents/"))
    );
}

#[tokio::test]
async fn the_repository_deserializes_with_its_default_branch() {
    let fake = FakeGitHub::start().await;
    fake.set_default_branch("acme/acme-web", "trunk");
    let octo = octocrab(&fake.url(), Some("t"));
    let repo = octo
        .repos("acme", "acme-web")
        .get()
        .await
        .expect("repository");
    assert_eq!(repo.full_name.as_deref(), Some("acme/acme-web"));
    assert_eq!(repo.default_branch.as_deref(), Some("trunk"));
    assert_eq!(repo.owner.map(|o| o.login), Some("acme".to_string()));
    let other = octo
        .repos("acme", "acme-api")
        .get()
        .await
        .expect("repository");
    assert_eq!(other.default_branch.as_deref(), Some("main"));
}

#[tokio::test]
async fn octocrab_as_built_here_does_not_retry_by_itself() {
    // The crate builds octocrab without its `retry` feature (whose layer resends a 5xx or 429
    // at once, ignoring retry-after): every call is one request, and src/github.rs retries.
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("t"));
    let send = async || {
        octo.repos("acme", "acme-api")
            .create_status(SHA.to_string(), StatusState::Pending)
            .send()
            .await
    };
    fake.inject(GitHubFault::Status(502), 1);
    let err = send().await.expect_err("one 502");
    let gh = github_error(&err);
    assert_eq!(gh.status_code, 502);
    assert!(
        gh.message.contains("502 Bad Gateway"),
        "the HTML page is the message: {}",
        gh.message
    );
    assert_eq!(fake.count_posts(), 1);
    fake.inject(
        GitHubFault::RateLimited {
            retry_after_secs: 1,
        },
        1,
    );
    let err = send().await.expect_err("one 429");
    assert_eq!(github_error(&err).status_code, 429);
    send().await.expect("then it works");
    assert_eq!(fake.count_posts(), 3);
    assert_eq!(fake.statuses().len(), 1);
}

#[tokio::test]
async fn octocrab_does_not_retry_a_403() {
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("t"));
    let send = async || {
        octo.repos("acme", "acme-api")
            .create_status(SHA.to_string(), StatusState::Pending)
            .send()
            .await
    };
    fake.inject(
        GitHubFault::SecondaryRateLimit {
            retry_after_secs: 60,
        },
        1,
    );
    let err = send().await.expect_err("secondary rate limit");
    let gh = github_error(&err);
    assert_eq!(gh.status_code, 403);
    assert!(gh.message.contains("secondary rate limit"));
    let retry_after = gh.headers.as_ref().and_then(|h| h.get("retry-after"));
    assert_eq!(retry_after.and_then(|v| v.to_str().ok()), Some("60"));

    fake.inject(GitHubFault::Forbidden, 1);
    let err = send().await.expect_err("forbidden");
    let gh = github_error(&err);
    assert_eq!(gh.message, "Resource not accessible by integration");
    assert!(
        gh.headers
            .as_ref()
            .is_some_and(|h| h.get("retry-after").is_none())
    );

    fake.inject(GitHubFault::Unauthorized, 1);
    assert_eq!(
        github_error(&send().await.expect_err("401")).message,
        "Bad credentials"
    );
    fake.inject(GitHubFault::Unprocessable, 1);
    assert_eq!(
        github_error(&send().await.expect_err("422")).status_code,
        422
    );
    assert_eq!(fake.count_posts(), 4);
    assert!(fake.statuses().is_empty());
    assert!(fake.calls().iter().all(|c| c.faulted));
}

#[tokio::test]
async fn a_malformed_github_body_is_a_decoding_error() {
    let fake = FakeGitHub::start().await;
    let octo = octocrab(&fake.url(), Some("t"));
    fake.inject_on("POST", GitHubFault::Malformed, 1);
    let err = octo
        .repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Pending)
        .send()
        .await
        .expect_err("truncated JSON");
    assert!(!matches!(err, octocrab::Error::GitHub { .. }), "{err:?}");
    assert_eq!(fake.count_posts(), 1);
}

#[tokio::test]
async fn a_github_hang_needs_a_read_timeout() {
    let fake = FakeGitHub::start().await;
    // octocrab sets no timeouts by default; with a read timeout the hung attempt fails at the
    // transport. The hung request still took effect (the status exists), which is why a
    // caller's own retry may create the same status twice, as it would on GitHub.
    let octo = Octocrab::builder()
        .base_uri(fake.url())
        .expect("base_uri")
        .personal_token("t".to_string())
        .set_read_timeout(Some(Duration::from_millis(300)))
        .build()
        .expect("octocrab");
    fake.inject(GitHubFault::Hang, 1);
    let err = octo
        .repos("acme", "acme-api")
        .create_status(SHA.to_string(), StatusState::Pending)
        .send()
        .await
        .expect_err("the read timeout ends the hung attempt");
    assert!(!matches!(err, octocrab::Error::GitHub { .. }), "{err:?}");
    let faulted: Vec<bool> = fake.calls().iter().map(|c| c.faulted).collect();
    assert_eq!(faulted, [true]);
    assert_eq!(fake.statuses().len(), 1);
}

#[test]
fn base64_and_sha1_helpers() {
    use fakes::github::{base64, base64_wrapped, sha1};
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
    let long = base64_wrapped(&[0xa5; 100]);
    assert_eq!(long.lines().map(str::len).collect::<Vec<_>>(), [60, 60, 16]);
    let hex: String = sha1(b"abc").iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}
