//! Issue 20.4: no text or number from a service can crash or confuse the gate. Random UTF-8
//! (control characters, workflow commands, multi-byte characters at every cut) and extreme
//! numbers (i64::MIN/MAX milliseconds, negative and huge epoch seconds, NaN and infinities
//! read from a capture) go through facts → decide → every renderer: the text, Markdown and
//! JSON reports, the commit status, the Actions annotations, and reconcile's tables. None
//! may panic (the release binary aborts on a panic), and what is shown is sanitised: no
//! control character but newlines (and tabs in JSON strings, escaped), no workflow command
//! smuggled onto a line of its own, a commit status within GitHub's limit.

use std::collections::BTreeMap;

use codebuild_retry_gate::decide::decide;
use codebuild_retry_gate::decision::Decision;
use codebuild_retry_gate::facts::awscli::{batches_from_json, builds_from_json};
use codebuild_retry_gate::facts::{
    Batch, Build, BuildSummary, Context, Facts, Group, Phase, Status, Timestamp,
};
use codebuild_retry_gate::policy::Policy;
use codebuild_retry_gate::render;
use codebuild_retry_gate::render::reconcile::{Did, Found, Judged, Report, Row};
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

/// Text a service could send: anything, and the hostile cases on purpose.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,40}",
        select(vec![
            String::new(),
            "::error::injected".to_string(),
            "\n::set-output name=decision::retry".to_string(),
            "##[error]x".to_string(),
            "\u{1b}[31mred\u{1b}[0m\r\n".to_string(),
            "ab€déf-nünïcödé".to_string(),
            "é".repeat(200),
            "\u{202e}reversed\u{200b}".to_string(),
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_string(),
            "A".repeat(64),
            "x".repeat(5000),
        ]),
    ]
}

fn instant() -> impl Strategy<Value = Option<Timestamp>> {
    prop_oneof![
        Just(None),
        select(vec![
            i64::MIN,
            i64::MIN + 1,
            -1,
            0,
            1,
            i64::MAX - 1,
            i64::MAX,
            253_402_300_799_999, // 9999-12-31T23:59:59.999Z
            253_402_300_800_000, // year 10000
            -62_135_596_800_000, // year 1
        ])
        .prop_map(|t| Some(Timestamp(t))),
        any::<i64>().prop_map(|t| Some(Timestamp(t))),
        // Epoch seconds as a capture or the SDK hands them over, NaN and infinities included.
        select(vec![
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1.8e19,
            -1.8e19,
            1e308,
            -0.0
        ])
        .prop_map(|s| Some(Timestamp::from_epoch_seconds(s))),
        (1_700_000_000_000i64..1_800_000_000_000).prop_map(|t| Some(Timestamp(t))),
    ]
}

fn status() -> impl Strategy<Value = Option<Status>> {
    prop_oneof![
        Just(None),
        select(vec![
            Status::Succeeded,
            Status::Failed,
            Status::Fault,
            Status::TimedOut,
            Status::InProgress,
            Status::Stopped,
        ])
        .prop_map(Some),
        text().prop_map(|t| Some(Status::Other(t))),
    ]
}

fn phase() -> impl Strategy<Value = Phase> {
    (
        prop_oneof![
            select(vec![
                "PROVISIONING".to_string(),
                "BUILD".to_string(),
                "FAILED".to_string(),
                "DOWNLOAD_SOURCE".to_string(),
            ]),
            text()
        ],
        prop_oneof![status(), Just(Some(Status::Other("RETRY".into())))],
        prop::collection::vec((text(), text()), 0..3),
        instant(),
        instant(),
    )
        .prop_map(
            |(phase_type, status, contexts, start_time, end_time)| Phase {
                phase_type,
                status,
                contexts: contexts
                    .into_iter()
                    .map(|(status_code, message)| Context {
                        status_code,
                        message,
                    })
                    .collect(),
                start_time,
                end_time,
            },
        )
}

fn summary(project: String) -> impl Strategy<Value = BuildSummary> {
    (text(), status(), instant(), any::<bool>()).prop_map(move |(id, status, at, real)| {
        BuildSummary {
            arn: Some(if real {
                format!("arn:aws:codebuild:us-east-1:123456789012:build/{project}:{id}")
            } else {
                id
            }),
            status,
            requested_on: at,
        }
    })
}

fn group(project: String) -> impl Strategy<Value = Group> {
    (
        text(),
        prop::collection::vec(text(), 0..2),
        any::<bool>(),
        prop::option::of(summary(project.clone())),
        prop::collection::vec(summary(project), 0..2),
    )
        .prop_map(
            |(identifier, depends_on, ignore_failure, current, prior)| Group {
                identifier,
                depends_on,
                ignore_failure,
                current,
                prior,
            },
        )
}

fn batch() -> impl Strategy<Value = Batch> {
    prop_oneof![Just("acme-api".to_string()), text()].prop_flat_map(|project| {
        (
            text(),
            status(),
            any::<bool>(),
            prop::option::of(text()),
            prop::option::of(text()),
            prop::option::of(text()),
            instant(),
            instant(),
            prop::collection::vec(phase(), 0..4),
            prop::collection::vec(group(project.clone()), 0..4),
        )
            .prop_map(
                move |(
                    uuid,
                    status,
                    complete,
                    source_version,
                    resolved_source_version,
                    source_location,
                    start_time,
                    end_time,
                    phases,
                    groups,
                )| Batch {
                    id: format!("{project}:{uuid}"),
                    arn: Some(format!(
                        "arn:aws:codebuild:us-east-1:123456789012:build-batch/{project}:{uuid}"
                    )),
                    project: project.clone(),
                    status,
                    complete,
                    source_version,
                    resolved_source_version,
                    source_location,
                    start_time,
                    end_time,
                    phases,
                    groups,
                },
            )
    })
}

/// The builds the batch's groups name, with random phases.
fn builds_for(batch: &Batch) -> impl Strategy<Value = BTreeMap<String, Build>> + use<> {
    let ids: Vec<String> = batch
        .groups
        .iter()
        .filter_map(|g| g.current.as_ref()?.build_id().map(str::to_string))
        .collect();
    let n = ids.len();
    prop::collection::vec(
        (
            status(),
            instant(),
            instant(),
            prop::collection::vec(phase(), 0..4),
        ),
        n,
    )
    .prop_map(move |parts| {
        ids.iter()
            .cloned()
            .zip(parts)
            .map(|(id, (status, start_time, end_time, phases))| {
                let build = Build {
                    id: id.clone(),
                    arn: None,
                    status,
                    start_time,
                    end_time,
                    phases,
                    batch_arn: None,
                    report_arns: Vec::new(),
                    ..Build::default()
                };
                (id, build)
            })
            .collect()
    })
}

fn facts() -> impl Strategy<Value = Facts> {
    batch().prop_flat_map(|batch| {
        (
            Just(batch.clone()),
            builds_for(&batch),
            prop::collection::vec(batch_like(batch.project.clone()), 0..3),
            any::<bool>(),
            instant(),
        )
            .prop_map(|(batch, builds, history, history_truncated, now)| Facts {
                batch,
                builds,
                history,
                history_truncated,
                now,
                ..Facts::default()
            })
    })
}

/// Another batch of the project (for the budgets), its commit maybe the same.
fn batch_like(project: String) -> impl Strategy<Value = Batch> {
    (batch(), any::<bool>()).prop_map(move |(mut b, same)| {
        b.project = project.clone();
        if same {
            b.resolved_source_version = Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into());
        }
        b
    })
}

fn policies() -> Vec<Policy> {
    vec![
        Policy::builtin(),
        Policy::from_yaml(
            "version: 1\n\
             budget: {per-batch: 10, per-commit: 50, lookback-days: 90, per-project-per-day: 1000}\n\
             outage: {failed-batches: 1, within-minutes: 1440, max-failed-share: 0.5}\n\
             rules:\n\
             - {name: anything, phases: [PROVISIONING, BUILD, DOWNLOAD_SOURCE, SUBMITTED], max-retries: 10}\n",
            "extreme.yml",
        )
        .expect("the extreme policy is valid"),
    ]
}

/// Shown text: no control character but the newline, no line that the Actions runner would
/// read as a workflow command unless the renderer made it (`::group::` and `::endgroup::`
/// are not made by these renderers).
fn assert_shown(what: &str, text: &str) {
    for (i, line) in text.lines().enumerate() {
        assert!(
            !line.chars().any(|c| c.is_control() && c != '\t'),
            "{what}: control character on line {i}: {line:?}"
        );
        assert!(
            !line.trim_start().starts_with("::"),
            "{what}: a workflow command on line {i}: {line:?}"
        );
        assert!(!line.contains("##["), "{what}: legacy command: {line:?}");
    }
}

fn render_all(d: &Decision, facts: &Facts) {
    assert_shown("text", &render::text::render(d));
    for acted in [false, true] {
        assert_shown("markdown", &render::markdown::render(d, acted));
        let json = render::json::render(d, acted);
        let value: Value = serde_json::from_str(&json).expect("the JSON report parses");
        assert!(value.is_object());
    }
    let status = render::status::render(d, None);
    assert!(
        status.description.len() <= 140,
        "{} bytes: {:?}",
        status.description.len(),
        status.description
    );
    assert_shown("status", &status.description);
    assert!(!status.description.contains('\n'));
    // The annotation the gate writes under Actions carries the reason as escaped data.
    let line = codebuild_retry_gate::actions::command("group", &[], &d.reason);
    assert_eq!(line.lines().count(), 1, "{line:?}");

    // reconcile's tables, with the batch's own strings in every column.
    let mut report = Report::new(
        &facts.batch.project,
        u64::MAX,
        facts.batch.end_time.unwrap_or(Timestamp(i64::MIN)),
        false,
    );
    for (found, did) in [
        (Found::Missing, Did::Retried),
        (Found::Stale, Did::WouldPost),
        (Found::NoCommit, Did::LeftAlone),
    ] {
        report.batches.push(Row {
            batch_id: facts.batch.id.clone(),
            batch_status: facts.batch.status.as_ref().map(|s| s.as_str().to_string()),
            commit: facts
                .batch
                .resolved_source_version
                .clone()
                .or_else(|| facts.batch.source_version.clone()),
            found,
            seen_state: facts.batch.source_location.clone(),
            did,
            posted_state: facts.batch.source_version.clone(),
            note: d.reason.clone(),
            decision: Some(Judged::of(d)),
        });
    }
    assert_shown("reconcile text", &render::reconcile::text(&report));
    assert_shown("reconcile markdown", &render::reconcile::markdown(&report));
    let json: Value =
        serde_json::from_str(&render::reconcile::json(&report)).expect("reconcile JSON parses");
    assert!(json.is_object());
    assert_shown("reconcile headline", &report.headline());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_text_and_extreme_numbers_never_panic_and_render_sanitised(facts in facts()) {
        for policy in policies() {
            let d = decide(&policy, &facts);
            render_all(&d, &facts);
        }
    }

    /// The same from a capture: numbers a JSON file can hold (huge, negative, fractional,
    /// 1e308) and strings in every field the gate reads, through the AWS CLI reader.
    #[test]
    fn captures_with_extreme_numbers_never_panic(
        start in prop_oneof![
            select(vec![json!(1.8e19), json!(-1.8e19), json!(1e308), json!(-1e308), json!(-1),
                        json!(0), json!(u64::MAX), json!(i64::MIN), json!(0.5), json!(1.7e9)]),
            any::<f64>().prop_filter("JSON holds no NaN", |f| f.is_finite()).prop_map(|f| json!(f)),
            text().prop_map(Value::String),
        ],
        end in prop_oneof![
            select(vec![json!(1.8e19), json!(-1e308), json!(i64::MAX), json!(1.7e9)]),
            text().prop_map(Value::String),
        ],
        resolved in text(),
        group in text(),
        code in text(),
        message in text(),
    ) {
        let batch = json!({"buildBatches": [{
            "id": "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6",
            "arn": "arn:aws:codebuild:us-east-1:123456789012:build-batch/acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6",
            "projectName": "acme-api",
            "buildBatchStatus": "FAILED",
            "complete": true,
            "resolvedSourceVersion": resolved,
            "startTime": start, "endTime": end,
            "phases": [{"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": start, "endTime": end}],
            "buildGroups": [{"identifier": group, "currentBuildSummary": {
                "arn": "arn:aws:codebuild:us-east-1:123456789012:build/acme-api:b1",
                "buildStatus": "FAILED", "requestedOn": start}}],
        }]});
        let builds = json!({"builds": [{
            "id": "acme-api:b1", "buildStatus": "FAILED", "startTime": start, "endTime": end,
            "phases": [{"phaseType": "PROVISIONING", "phaseStatus": "FAILED",
                        "startTime": start, "endTime": end,
                        "contexts": [{"statusCode": code, "message": message}]}],
        }]});
        let (Ok(batches), Ok(builds)) = (
            batches_from_json(&batch.to_string()),
            builds_from_json(&builds.to_string()),
        ) else {
            // A clean error is an answer too.
            return Ok(());
        };
        for batch in batches {
            let facts = Facts {
                batch,
                builds: builds.iter().map(|b| (b.id.clone(), b.clone())).collect(),
                ..Facts::default()
            };
            for policy in policies() {
                let d = decide(&policy, &facts);
                render_all(&d, &facts);
            }
        }
    }
}
