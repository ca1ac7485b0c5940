//! The JSON Schema: the committed copy is current, and every shipped policy conforms.

mod common;

use common::{gate, root, run};

fn shipped_policies() -> Vec<std::path::PathBuf> {
    let mut files = vec![root().join("policies/default.yml")];
    let mut examples: Vec<_> = std::fs::read_dir(root().join("policies/examples"))
        .expect("policies/examples exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml"))
        .collect();
    examples.sort();
    files.extend(examples);
    files
}

fn yaml_to_json(path: &std::path::Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn schema() -> serde_json::Value {
    let r = run(gate().arg("schema"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("schema is JSON")
}

#[test]
fn committed_schema_is_current() {
    let r = run(gate().arg("schema"));
    let committed = std::fs::read_to_string(root().join("policies/schema.json")).unwrap();
    assert!(
        committed == r.stdout,
        "policies/schema.json is stale: run `cargo run -q -- schema > policies/schema.json`"
    );
}

#[test]
fn every_shipped_policy_conforms_to_the_schema() {
    let validator = jsonschema::validator_for(&schema()).expect("a valid JSON Schema");
    let files = shipped_policies();
    assert!(files.len() >= 4);
    for file in files {
        let instance = yaml_to_json(&file);
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{}: {errors:?}", file.display());
    }
}

#[test]
fn the_schema_rejects_what_the_validator_rejects() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let cases = [
        (
            "unknown key",
            "version: 1\nrules: [{name: a, max_retries: 1}]\n",
        ),
        (
            "unknown status",
            "version: 1\nrules: [{name: a, statuses: [FAULTY]}]\n",
        ),
        (
            "unknown phase",
            "version: 1\nrules: [{name: a, phases: [PROVISIONNING]}]\n",
        ),
        (
            "unknown action",
            "version: 1\nrules: [{name: a, action: retri}]\n",
        ),
        (
            "bad retry type",
            "version: 1\nretry-type: some\nrules: []\n",
        ),
        (
            "zero budget",
            "version: 1\nbudget: {per-batch: 0}\nrules: []\n",
        ),
        ("wrong version", "version: 2\nrules: []\n"),
        (
            "a share of 1",
            "version: 1\noutage: {max-failed-share: 1}\nrules: []\n",
        ),
        (
            "a share of 0",
            "version: 1\noutage: {max-failed-share: 0}\nrules: []\n",
        ),
        (
            "failed-batches without within-minutes",
            "version: 1\noutage: {failed-batches: 3, max-failed-share: 0.5}\nrules: []\n",
        ),
        ("an empty outage", "version: 1\noutage: {}\nrules: []\n"),
        ("missing rules", "version: 1\n"),
        ("missing name", "version: 1\nrules: [{action: retry}]\n"),
        (
            "log without matches",
            "version: 1\nrules: [{name: a, log: {tail-kib: 8}}]\n",
        ),
        (
            "tail too large",
            "version: 1\nrules: [{name: a, log: {matches: [x], tail-kib: 4097}}]\n",
        ),
        (
            "unknown key in log",
            "version: 1\nrules: [{name: a, log: {matches: [x], tail: 8}}]\n",
        ),
        (
            "unknown key in tests",
            "version: 1\nrules: [{name: a, tests: {flaky: 3}}]\n",
        ),
        (
            "zero known-flaky-days",
            "version: 1\nrules: [{name: a, tests: {known-flaky-days: 0}}]\n",
        ),
    ];
    for (what, yaml) in cases {
        let instance: serde_json::Value = yaml_serde::from_str(yaml).unwrap();
        assert!(!validator.is_valid(&instance), "schema accepts {what}");
        let policy = codebuild_retry_gate::policy::Policy::from_yaml(yaml, "case.yml");
        assert!(policy.is_err(), "validator accepts {what}");
    }
}
