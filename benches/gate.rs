//! Benchmarks of the judgment core (numbers go in the issue notes, not in tests).
//!
//! `cargo bench --bench gate`: `decide` on a batch of 500 build groups, and loading and
//! validating a policy of 200 rules. `scripts/bench-explain.py` times `explain` as a process.

use std::hint::black_box;

use codebuild_retry_gate::decide::decide;
use codebuild_retry_gate::facts::{
    Batch, Build, BuildSummary, Context, Facts, Group, Phase, Status,
};
use codebuild_retry_gate::policy::Policy;
use criterion::{Criterion, criterion_group, criterion_main};

fn phase(kind: &str, status: Status, code: &str, message: &str) -> Phase {
    Phase {
        phase_type: kind.to_string(),
        status: Some(status),
        contexts: if code.is_empty() {
            Vec::new()
        } else {
            vec![Context {
                status_code: code.to_string(),
                message: message.to_string(),
            }]
        },
        ..Phase::default()
    }
}

/// A failed batch of `n` groups: every fifth failed in PROVISIONING, the rest succeeded,
/// each depending on the previous group.
fn big_batch(n: usize) -> Facts {
    let mut facts = Facts::default();
    let mut groups = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("bench:{i:08}-0000-0000-0000-000000000000");
        let failed = i % 5 == 4;
        let status = if failed {
            Status::Failed
        } else {
            Status::Succeeded
        };
        groups.push(Group {
            identifier: format!("group_{i}"),
            depends_on: if i > 0 {
                vec![format!("group_{}", i - 1)]
            } else {
                Vec::new()
            },
            ignore_failure: false,
            current: Some(BuildSummary {
                arn: Some(format!(
                    "arn:aws:codebuild:us-east-1:111122223333:build/{id}"
                )),
                status: Some(status.clone()),
                requested_on: None,
            }),
            prior: Vec::new(),
        });
        let mut phases = vec![
            phase("SUBMITTED", Status::Succeeded, "", ""),
            phase("QUEUED", Status::Succeeded, "", ""),
        ];
        phases.push(if failed {
            phase(
                "PROVISIONING",
                Status::Other("CLIENT_ERROR".into()),
                "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE",
                "Unable to pull customer's container image. toomanyrequests",
            )
        } else {
            phase("PROVISIONING", Status::Succeeded, "", "")
        });
        facts.builds.insert(
            id.clone(),
            Build {
                id,
                arn: None,
                status: Some(status),
                phases,
                ..Build::default()
            },
        );
    }
    facts.batch = Batch {
        id: "bench:batch".into(),
        project: "bench".into(),
        status: Some(Status::Failed),
        complete: true,
        resolved_source_version: Some("0".repeat(40)),
        groups,
        ..Batch::default()
    };
    facts
}

fn policy_of(rules: usize) -> String {
    let mut yaml = String::from("version: 1\nbudget: {per-batch: 3, per-commit: 10}\nrules:\n");
    for i in 0..rules {
        yaml.push_str(&format!(
            "  - name: rule-{i}\n    projects: [\"svc-{i}-*\", \"bench\"]\n    groups: [\"group_*\"]\n    \
             statuses: [FAILED, FAULT]\n    phases: [PROVISIONING, QUEUED]\n    \
             status-codes: [\"BUILD_CONTAINER_*\"]\n    messages: [\"*toomanyrequests*\", \"*rate {i}*\"]\n    max-retries: 2\n"
        ));
    }
    yaml
}

fn benches(c: &mut Criterion) {
    let facts = big_batch(500);
    let policy = Policy::builtin();
    c.bench_function("decide/500-groups/default-policy", |b| {
        b.iter(|| decide(black_box(&policy), black_box(&facts)))
    });
    let big_policy = Policy::from_yaml(&policy_of(200), "bench.yml").expect("valid");
    c.bench_function("decide/500-groups/200-rules", |b| {
        b.iter(|| decide(black_box(&big_policy), black_box(&facts)))
    });
    let yaml = policy_of(200);
    c.bench_function("policy/load-and-validate/200-rules", |b| {
        b.iter(|| Policy::from_yaml(black_box(&yaml), "bench.yml").expect("valid"))
    });
}

criterion_group!(gate, benches);
criterion_main!(gate);
