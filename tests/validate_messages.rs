//! Issue 19.3 and 19.4: policy errors in plain words (no Rust type names, hints for the
//! common YAML mistakes, an unclosed bracket pointed at where it opened, an unreadable file
//! without a made-up position), and `validate`'s warnings, `--strict`, `-` (stdin) and
//! `--format json`. Every message pinned.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{gate, run};

/// Words a policy author should never meet.
const RUST_WORDS: [&str; 10] = [
    "Raw", "u32", "u64", "i64", "f64", "usize", "struct ", "Option<", "Vec<", "sequence",
];

/// `validate` on `text` (as a file named `policy.yml` in a temporary directory), stderr.
fn validate(text: &str, extra: &[&str]) -> common::Run {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yml"), text).unwrap();
    let mut cmd = gate();
    cmd.current_dir(dir.path())
        .arg("validate")
        .arg("policy.yml")
        .args(extra);
    run(&mut cmd)
}

fn no_rust_words(text: &str) {
    for w in RUST_WORDS {
        assert!(!text.contains(w), "`{w}` in: {text}");
    }
}

#[test]
fn shapes_and_types_are_said_in_plain_words() {
    let cases: [(&str, &str); 8] = [
        (
            "",
            "policy.yml:1:1: error[empty-file]: the file is empty\n  help: a policy needs `version: 1` and `rules`\n",
        ),
        (
            "# only a comment\n",
            "error[empty-file]: the file is empty\n  help: a policy needs `version: 1` and `rules`\n",
        ),
        (
            "- version: 1\n",
            "policy.yml:1:1: error[wrong-type]: the policy is a list; it must be a mapping of keys\n  help: a policy needs `version: 1` and `rules`, at the top level (not under `- `)\n",
        ),
        (
            "version: \"1\"\nrules: []\n",
            "policy.yml:1:10: error[wrong-type]: `version` must be a whole number (0 or more), not the text \"1\"\n  help: remove the quotes: numbers are written without them\n",
        ),
        (
            "version: 1\nrules:\n  - name: a\n    statuses: FAULT\n",
            "policy.yml:4:15: error[wrong-type]: `rules[0].statuses` must be a list, not the text \"FAULT\"\n  help: write a list: `[A, B]`, or one `- item` per line\n",
        ),
        (
            "version: 1\nrules: {}\n",
            "policy.yml:2:8: error[wrong-type]: `rules` must be a list, not a mapping of keys\n",
        ),
        (
            "version: 1\n",
            "policy.yml:1:1: error[missing-key]: missing key `rules`\n  help: a policy needs `version: 1` and `rules` (a list of rules)\n",
        ),
        (
            "version: 1\nrules:\n  - name: a\n    max-retries: -1\n",
            "policy.yml:4:18: error[wrong-type]: `rules[0].max-retries` must be a whole number (0 or more), not the number -1\n",
        ),
    ];
    for (text, expected) in cases {
        let r = validate(text, &[]);
        assert_eq!(r.code, 2, "{text:?}: {}", r.stderr);
        assert!(r.stderr.contains(expected), "{text:?}:\n{}", r.stderr);
        no_rust_words(&r.stderr);
    }
}

#[test]
fn yaml_mistakes_get_a_hint() {
    let r = validate("version: 1\nrules:\n\t- name: a\n", &[]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("policy.yml:3:1: error[yaml-syntax]: found character that cannot start any token, while scanning for the next token\n  help: YAML does not allow tabs for indentation: indent with spaces\n"),
        "{}",
        r.stderr
    );
    for text in [
        "version: 1\nrules:\n  - name: a\n    projects: *web\n",
        "version: 1\nrules:\n  - name: a\n    projects: [*]\n",
    ] {
        let r = validate(text, &[]);
        assert_eq!(r.code, 2);
        assert!(
            r.stderr.contains("  help: a value starting with `*` is read as a YAML alias: quote it, e.g. `[\"*-web\"]` or `\"*\"`\n"),
            "{text:?}: {}",
            r.stderr
        );
    }
    // An unclosed bracket: pointed at where it opened.
    let r = validate(
        "version: 1\nrules:\n  - name: a\n    projects: [web,\n      api\n  - name: b\n",
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("policy.yml:4:15: error[yaml-syntax]: this `[` is never closed (the parser reached line 6 column 9 without finding its end)\n  help: close the list with `]` (a `[…]` list may span lines, but every item needs a `,` after it except the last)\n"),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unreadable_file_has_no_made_up_position() {
    let r = run(gate().arg("validate").arg("no/such/policy.yml"));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.starts_with(
            "no/such/policy.yml: error[unreadable-file]: cannot read the policy: No such file or directory"
        ),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains(":1:1"), "{}", r.stderr);
    // Under Actions the annotation names the file only.
    let r = run(gate()
        .env("GITHUB_ACTIONS", "true")
        .arg("validate")
        .arg("no/such/policy.yml"));
    assert!(
        r.stdout.starts_with(
            "::error file=no/such/policy.yml,title=codebuild-retry-gate policy::[unreadable-file]"
        ),
        "{}",
        r.stdout
    );
}

const WARNED: &str = "version: 1\ncontext: ci/retry\nrules:\n  - name: pulls\n    status-codes: [BUILD_CONTAINER_UNABLE_TO_PULL_IMAGES, \"*_ERROR\", NOT_A_CODE_AT_ALL]\n";

#[test]
fn warnings_say_the_consequence_and_do_not_fail_unless_strict() {
    let r = validate(WARNED, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "policy.yml: ok (1 rule, 3 warnings)\n");
    assert_eq!(
        r.stderr,
        "policy.yml:2:10: warning[fixed-context]: `context` `ci/retry` has no `{project}`: batches of every project post the same status, so on a commit that several projects build, the last result overwrites the others\n  help: add the project, e.g. `context: \"ci/retry ({project})\"`; a required check then names each project\n\
policy.yml:5:20: warning[unknown-status-code]: status code `BUILD_CONTAINER_UNABLE_TO_PULL_IMAGES` matches none of CodeBuild's documented status codes: rule `pulls` may never match\n  help: did you mean `BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE`?\n\
policy.yml:5:70: warning[unknown-status-code]: status code `NOT_A_CODE_AT_ALL` matches none of CodeBuild's documented status codes: rule `pulls` may never match\n  help: documented codes: BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE, BUILD_TIMED_OUT, BATCH_DELETED, CLIENT_ERROR, COMMAND_EXECUTION_ERROR, INSUFFICIENT_SUBNET, VPC_CLIENT_ERROR, YAML_FILE_ERROR\n\
3 warnings in 1 of 1 file (warnings do not fail validation; --strict makes them)\n"
    );
    let r = validate(WARNED, &["--strict"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.ends_with("3 warnings in 1 of 1 file\n"),
        "{}",
        r.stderr
    );

    let r = validate("version: 1\nrules: []\n", &[]);
    assert_eq!(r.code, 0);
    assert!(
        r.stderr.starts_with("policy.yml:2:8: warning[no-rules]: `rules` is empty: no failure is ever retried (every failed batch is refused: no rule matches)\n  help: add a rule (see docs/policy.md), or remove the file to use the built-in default policy\n"),
        "{}",
        r.stderr
    );
    // The default context, or a template with {project}: no warning.
    let r = validate(
        "version: 1\ncontext: \"ci/retry ({project})\"\nrules:\n  - name: a\n    status-codes: [COMMAND_EXECUTION_ERROR]\n",
        &[],
    );
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    // Under Actions, warnings are `::warning` annotations.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.yml"), WARNED).unwrap();
    let r = run(gate()
        .current_dir(dir.path())
        .env("GITHUB_ACTIONS", "true")
        .args(["validate", "policy.yml"]));
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("::warning file=policy.yml,line=2,col=10,title=codebuild-retry-gate policy::[fixed-context]"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_lower_case_status_code_is_an_error() {
    let r = validate(
        "version: 1\nrules:\n  - name: a\n    status-codes: [command_execution_error]\n",
        &[],
    );
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "policy.yml:4:20: error[lowercase-status-code]: status code `command_execution_error` is lower case, but CodeBuild's status codes are upper case and matched case-sensitively: this can never match\n  help: write `COMMAND_EXECUTION_ERROR`\n1 problem in 1 of 1 file\n"
    );
}

#[test]
fn validate_reads_stdin_and_reports_json() {
    let mut child = gate()
        .args(["validate", "-", "--format", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(WARNED.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], 1);
    assert_eq!(report["errors"], 0);
    assert_eq!(report["warnings"], 3);
    let file = &report["files"][0];
    assert_eq!(file["file"], "<stdin>");
    assert_eq!(file["ok"], true);
    assert_eq!(file["rules"], 1);
    assert_eq!(file["warnings"][0]["code"], "fixed-context");
    assert_eq!(file["warnings"][0]["line"], 2);
    assert_eq!(file["warnings"][0]["column"], 10);

    // Errors in JSON, an unreadable file with null line and column.
    let r = run(gate().args(["validate", "--format", "json", "no/such.yml"]));
    assert_eq!(r.code, 2);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["errors"], 1);
    let e = &report["files"][0]["errors"][0];
    assert_eq!(e["code"], "unreadable-file");
    assert!(e["line"].is_null() && e["column"].is_null(), "{e}");
}
