//! The binary as a user runs it: exit codes, messages, snapshots of `explain`.

mod common;

use common::{explain_example, gate, run};

const SCENARIOS: [(&str, &str); 11] = [
    ("provisioning-fault", "retry"),
    ("test-failure", "refuse"),
    ("collateral-stopped", "retry"),
    ("batchspec-failure", "refuse"),
    ("retried-twice", "refuse"),
    ("succeeded-after-retry", "pass"),
    ("commit-budget-spent", "refuse"),
    ("wire-format", "retry"),
    ("in-progress", "wait"),
    ("fast-fail", "retry"),
    ("stopped-batch", "refuse"),
];

#[test]
fn explain_text_snapshots_for_every_example() {
    for (name, _) in SCENARIOS {
        let r = explain_example(name, &[]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert_eq!(r.stderr, "", "{name}");
        insta::assert_snapshot!(format!("explain_text_{name}"), r.stdout);
    }
}

#[test]
fn explain_json_snapshots_and_decisions() {
    for (name, expected) in SCENARIOS {
        let r = explain_example(name, &["--format", "json"]);
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON report");
        assert_eq!(report["version"], 1, "{name}");
        assert_eq!(report["decision"], expected, "{name}");
        assert_eq!(report["acted"], false, "{name}");
        for key in ["reason", "batch_id", "groups", "budget", "code"] {
            assert!(report.get(key).is_some(), "{name}: no `{key}`");
        }
        insta::assert_snapshot!(format!("explain_json_{name}"), r.stdout);
    }
}

/// Issue 9: `explain DIR` on an example directory reads its batch.json, builds.json and
/// history.json, and decides exactly as with the files named one by one (it used to fail
/// with "Is a directory").
#[test]
fn explain_a_directory_reads_the_captures_in_it() {
    for (name, expected) in SCENARIOS {
        let dir = format!("examples/batches/{name}");
        let r = run(gate().args(["explain", &dir, "--format", "json"]));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        let by_files = explain_example(name, &["--format", "json"]);
        assert_eq!(r.stdout, by_files.stdout, "{name}");
        let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON report");
        assert_eq!(report["decision"], expected, "{name}");
    }
    // The history in the directory counts: the per-commit budget is spent.
    let r = run(gate().args(["explain", "examples/batches/commit-budget-spent/"]));
    assert!(r.stdout.contains("per-commit budget 3"), "{}", r.stdout);

    let r = run(gate().args(["explain", "examples/batches"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("examples/batches: a directory without batch.json"),
        "{}",
        r.stderr
    );
}

#[test]
fn fail_on_refusal_exits_1_only_on_refusal() {
    assert_eq!(
        explain_example("test-failure", &["--fail-on-refusal"]).code,
        1
    );
    assert_eq!(
        explain_example("provisioning-fault", &["--fail-on-refusal"]).code,
        0
    );
    assert_eq!(
        explain_example("in-progress", &["--fail-on-refusal"]).code,
        0
    );
}

/// A capture cut down by hand may leave out `complete`: a FAILED batch is then taken as
/// ended and judged; one that says `complete: false` is waited for.
#[test]
fn a_capture_without_complete_is_judged_by_its_status() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        common::root().join("examples/batches/provisioning-fault/batch.json"),
    )
    .unwrap();
    let mut capture: serde_json::Value = serde_json::from_str(&text).unwrap();
    let batch = &mut capture["buildBatches"][0];
    batch.as_object_mut().unwrap().remove("complete");
    let without = dir.path().join("without.json");
    std::fs::write(&without, capture.to_string()).unwrap();
    capture["buildBatches"][0]["complete"] = serde_json::json!(false);
    let incomplete = dir.path().join("incomplete.json");
    std::fs::write(&incomplete, capture.to_string()).unwrap();
    let builds = "examples/batches/provisioning-fault/builds.json";

    let r = run(gate()
        .arg("explain")
        .arg(&without)
        .args(["--builds", builds]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);
    let r = run(gate()
        .arg("explain")
        .arg(&incomplete)
        .args(["--builds", builds]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("WAIT"), "{}", r.stdout);
    assert!(r.stdout.contains("[batch-not-complete]"), "{}", r.stdout);
}

/// Issue 8.9: a project with no other batches has an empty history; that is no error.
#[test]
fn an_empty_history_is_accepted_and_a_non_capture_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("history.json");
    std::fs::write(&empty, r#"{"buildBatches": []}"#).unwrap();
    let r = explain_example(
        "provisioning-fault",
        &["--history", empty.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("RETRY"), "{}", r.stdout);

    let other = dir.path().join("other.json");
    std::fs::write(&other, r#"{"builds": []}"#).unwrap();
    let r = explain_example(
        "provisioning-fault",
        &["--history", other.to_str().unwrap()],
    );
    assert_eq!(r.code, 2, "{}", r.stdout);
    assert!(
        r.stderr
            .contains("this is batch-get-builds output: pass it with --builds"),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_with_a_policy_file() {
    let r = explain_example(
        "test-failure",
        &["--policy", "tests/fixtures/policies/retry-everything.yml"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("RETRY  Retry 1/1: unit_tests failed in BUILD"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("tests/fixtures/policies/retry-everything.yml"),
        "{}",
        r.stdout
    );
}

#[test]
fn explain_with_a_broken_policy_exits_2_and_points_into_it() {
    let r = explain_example(
        "test-failure",
        &["--policy", "tests/fixtures/policies/bad-values.yml"],
    );
    assert_eq!(r.code, 2);
    assert_eq!(r.stdout, "", "no report for a bad policy");
    assert!(
        r.stderr.contains("tests/fixtures/policies/bad-values.yml:8:16: error[unknown-value]: unknown status `FAULTY`"),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_with_a_missing_or_malformed_capture_exits_2() {
    let r = run(gate().args(["explain", "examples/batches/nope/batch.json"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("examples/batches/nope/batch.json: cannot read"),
        "{}",
        r.stderr
    );

    let r = run(gate().args(["explain", "Cargo.toml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("Cargo.toml: not a CodeBuild batch capture"),
        "{}",
        r.stderr
    );

    let r = run(gate().args(["explain", "tests/fixtures/captures/bad-timestamp.json"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("is neither ISO-8601 nor epoch seconds"),
        "{}",
        r.stderr
    );
}

#[test]
fn explain_with_a_missing_policy_file_exits_2() {
    let r = explain_example("test-failure", &["--policy", "no/such/policy.yml"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains("no/such/policy.yml: error[unreadable-file]"),
        "{}",
        r.stderr
    );
}

#[test]
fn validate_accepts_every_shipped_policy() {
    let mut files = vec!["policies/default.yml".to_string()];
    for entry in std::fs::read_dir(common::root().join("policies/examples")).unwrap() {
        files.push(format!(
            "policies/examples/{}",
            entry.unwrap().file_name().to_string_lossy()
        ));
    }
    assert!(
        files.len() >= 4,
        "at least three example policies: {files:?}"
    );
    let r = run(gate().arg("validate").args(&files));
    assert_eq!(r.code, 0, "{}", r.stderr);
    for f in &files {
        assert!(
            r.stdout.contains(&format!("{f}: ok")),
            "{f} not ok:\n{}",
            r.stdout
        );
    }
}

#[test]
fn validate_reports_every_problem_of_every_file() {
    let r = run(gate().args([
        "validate",
        "policies/default.yml",
        "tests/fixtures/policies/bad-values.yml",
        "tests/fixtures/policies/unknown-keys.yml",
        "tests/fixtures/policies/syntax-error.yml",
    ]));
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.contains("policies/default.yml: ok"),
        "{}",
        r.stdout
    );
    insta::assert_snapshot!("validate_bad_files", r.stderr);
}

/// Issue 17's keys `log` and `tests`: a bad regex at its character, a regex over the size
/// limit, ranges, a bad glob, an empty condition, regexes that can match empty text (and so
/// every line), and unknown keys inside each with a suggestion.
#[test]
fn validate_checks_log_and_tests_conditions() {
    let f = |name: &str| format!("tests/fixtures/policies/conditions-{name}.yml");
    let r = run(gate().arg("validate").arg(f("bad-values")));
    assert_eq!(r.code, 2);
    for line in [
        ":5:46: error[bad-regex]: bad regex `ECONN(RESET`: unclosed group",
        ":6:37: error[bad-regex]: bad regex `a{99999999}`: it compiles to more than the limit of 1048576 bytes",
        ":7:17: error[out-of-range]: `tail-kib` is 5000; it must be between 1 and 4096",
        ":10:16: error[bad-glob]: bad glob `Checkout[*`",
        ":11:25: error[out-of-range]: `known-flaky-days` is 0; it must be between 1 and 90",
        ":13:12: error[empty-condition]: `tests` names no condition",
        ":16:17: error[bad-regex]: regex `EAI_AGAIN|` can match empty text, so it matches lines that hold none of what it names",
        ":16:31: error[bad-regex]: regex `\\b(ECONNRESET|ETIMEDOUT|)\\b` can match empty text",
        ":16:62: error[bad-regex]: regex `x*` can match empty text",
        "9 problems in 1 of 1 file",
    ] {
        assert!(
            r.stderr.contains(line),
            "missing {line:?} in:\n{}",
            r.stderr
        );
    }
    let r = run(gate().arg("validate").arg(f("unknown-key")));
    assert_eq!(r.code, 2);
    for line in [
        ":6:7: error[unknown-key]: unknown key `tail-kb` in a rule's `log`\n  help: did you mean `tail-kib`?",
        ":8:7: error[unknown-key]: unknown key `max-failures` in a rule's `tests`\n  help: did you mean `max-failed`?",
    ] {
        assert!(
            r.stderr.contains(line),
            "missing {line:?} in:\n{}",
            r.stderr
        );
    }
}

/// Issue 11's keys: bad values (zero where meaningless, too large, negative, a bad or empty
/// glob list), an unknown key inside `outage` with a suggestion, and a missing one — each
/// with its line and column.
#[test]
fn validate_checks_the_daily_budget_the_outage_brake_and_source_versions() {
    let f = |name: &str| format!("tests/fixtures/policies/controls-{name}.yml");
    let r = run(gate().arg("validate").arg(f("bad-values")));
    assert_eq!(r.code, 2);
    for line in [
        ":3:24: error[out-of-range]: `per-project-per-day` is 0; it must be between 1 and 1000 (0 would never retry; remove the key for no daily limit)",
        ":5:19: error[out-of-range]: `failed-batches` is 0; it must be between 1 and 1000 (0 would refuse every retry; remove `outage` to turn the brake off)",
        ":6:19: error[out-of-range]: `within-minutes` is 2000; it must be between 1 and 1440",
        ":9:23: error[bad-glob]: bad glob `pr/[0-9`: unclosed character class; missing ']'",
        ":11:22: error[empty-list]: `source-versions` is empty, so the rule can never match",
        "5 problems in 1 of 1 file",
    ] {
        assert!(
            r.stderr.contains(line),
            "missing {line:?} in:\n{}",
            r.stderr
        );
    }
    let r = run(gate().arg("validate").arg(f("unknown-key")));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(":4:3: error[unknown-key]: unknown key `within-minute` in `outage`\n  help: did you mean `within-minutes`?"),
        "{}",
        r.stderr
    );
    let r = run(gate().arg("validate").arg(f("negative")));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(
            ":3:24: error[wrong-type]: `budget.per-project-per-day` must be a whole number (0 or more), not the number -3"
        ),
        "{}",
        r.stderr
    );
    let r = run(gate().arg("validate").arg(f("missing")));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(":3:3: error[missing-key]: missing key `within-minutes` in `outage`"),
        "{}",
        r.stderr
    );
}

/// Issue 17: `outage.max-failed-share` is a share strictly between 0 and 1 and stands
/// alone; `failed-batches` and `within-minutes` go together; an `outage` that sets nothing
/// is a mistake. Each problem at its line and column.
#[test]
fn validate_checks_max_failed_share_and_the_outage_pairs() {
    let dir = tempfile::tempdir().unwrap();
    let check = |name: &str, outage: &str| {
        let file = dir.path().join(format!("{name}.yml"));
        std::fs::write(
            &file,
            format!("version: 1\noutage:\n{outage}rules:\n  - name: any\n"),
        )
        .unwrap();
        run(gate().arg("validate").arg(&file))
    };
    let r = check("alone", "  max-failed-share: 0.5\n");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = check(
        "all",
        "  failed-batches: 3\n  within-minutes: 30\n  max-failed-share: 0.75\n",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (name, outage, want) in [
        (
            "zero",
            "  max-failed-share: 0\n",
            ":3:21: error[out-of-range]: `max-failed-share` is 0; it must be more than 0 and less than 1 (0 would refuse every failure",
        ),
        (
            "one",
            "  max-failed-share: 1\n",
            ":3:21: error[out-of-range]: `max-failed-share` is 1; it must be more than 0 and less than 1 (1 or more could never be exceeded",
        ),
        (
            "negative",
            "  max-failed-share: -0.5\n",
            ":3:21: error[out-of-range]: `max-failed-share` is -0.5;",
        ),
        (
            "nan",
            "  max-failed-share: .nan\n",
            ":3:21: error[out-of-range]: `max-failed-share` is NaN; it must be more than 0 and less than 1\n",
        ),
        (
            "text",
            "  max-failed-share: half\n",
            ":3:21: error[wrong-type]: `outage.max-failed-share` must be a number, not the text \"half\"",
        ),
        (
            "only-minutes",
            "  within-minutes: 30\n  max-failed-share: 0.5\n",
            ":3:3: error[missing-key]: missing key `failed-batches` in `outage`",
        ),
        (
            "only-batches",
            "  failed-batches: 3\n",
            ":3:3: error[missing-key]: missing key `within-minutes` in `outage`",
        ),
        (
            "typo",
            "  max-failed-shares: 0.5\n",
            ":3:3: error[unknown-key]: unknown key `max-failed-shares` in `outage`\n  help: did you mean `max-failed-share`?",
        ),
    ] {
        let r = check(name, outage);
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr.contains(want),
            "{name}: missing {want:?} in:\n{}",
            r.stderr
        );
    }
    let file = dir.path().join("empty.yml");
    std::fs::write(&file, "version: 1\noutage: {}\nrules: []\n").unwrap();
    let r = run(gate().arg("validate").arg(&file));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(":2:9: error[missing-key]: `outage` sets nothing"),
        "{}",
        r.stderr
    );
}

/// Each out-of-range value says what is wrong with it: blank is not "too long", and a
/// budget of 0 is not a rule to remove.
#[test]
fn validate_words_each_range_problem_for_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yml");
    std::fs::write(
        &file,
        "version: 1\ncontext: \"   \"\nbudget: {per-commit: 0, lookback-days: 0}\nrules:\n  - name: \"  \"\n  - name: x\n    max-retries: 0\n",
    )
    .unwrap();
    let r = run(gate().arg("validate").arg(&file));
    assert_eq!(r.code, 2);
    for line in [
        ":2:10: error[out-of-range]: `context` must not be empty or only spaces",
        ":3:22: error[out-of-range]: `per-commit` is 0; it must be between 1 and 50 (0 would never retry; to refuse every failure, use a rule with `action: refuse`)",
        ":3:40: error[out-of-range]: `lookback-days` is 0; it must be between 1 and 90\n",
        ":5:11: error[out-of-range]: a rule's `name` must not be empty or only spaces",
        ":7:18: error[out-of-range]: `max-retries` is 0; it must be between 1 and 10 (0 would never retry; remove the rule or use `action: refuse`)",
    ] {
        assert!(
            r.stderr.contains(line),
            "missing {line:?} in:\n{}",
            r.stderr
        );
    }
}

#[test]
fn validate_refuses_a_huge_file_and_non_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yml");
    std::fs::write(&big, "#".repeat(1024 * 1024 + 1)).unwrap();
    let binary = dir.path().join("binary.yml");
    std::fs::write(&binary, b"version: 1\nrules:\n  - name: \xff\xfe\n").unwrap();
    let r = run(gate().arg("validate").arg(&big).arg(&binary));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("big.yml:1:1: error[file-too-large]"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("binary.yml:3:11: error[not-utf8]"),
        "{}",
        r.stderr
    );
}

/// Issue 16.2: without files, `validate` checks the default path; when it is absent the
/// gate would use the built-in default policy, so there is nothing to check (exit 0).
#[test]
fn validate_without_files_checks_the_default_path_or_says_there_is_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(gate().current_dir(dir.path()).arg("validate"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("built-in default policy; nothing to check"),
        "{}",
        r.stderr
    );
    std::fs::create_dir_all(dir.path().join(".github")).unwrap();
    std::fs::write(
        dir.path().join(".github/codebuild-retry-gate.yml"),
        "version: 1\nrules:\n  - name: a\n    statuses: [FAULTY]\n",
    )
    .unwrap();
    let r = run(gate().current_dir(dir.path()).arg("validate"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(".github/codebuild-retry-gate.yml:4:16: error[unknown-value]"),
        "{}",
        r.stderr
    );
}

/// Issue 16.2: `command: validate` as the runner runs the Action: the `policy` input's files
/// (one per line) from the workspace, every problem an `::error` annotation at
/// file:line:col, exit 2; a file named but missing is a problem too.
#[test]
fn validate_through_the_actions_inputs_annotates_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("ci")).unwrap();
    std::fs::copy(
        common::root().join("tests/fixtures/policies/bad-values.yml"),
        dir.path().join("ci/bad.yml"),
    )
    .unwrap();
    std::fs::copy(
        common::root().join("policies/default.yml"),
        dir.path().join("ci/good.yml"),
    )
    .unwrap();
    let r = run(gate()
        .current_dir(dir.path())
        .arg("validate")
        .env("GITHUB_ACTIONS", "true")
        // What the runner passes for a multi-line input, and a policy-ref it must ignore.
        .env("INPUT_POLICY", "ci/good.yml\nci/bad.yml\n")
        .env("INPUT_POLICY-REF", "default-branch"));
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("ci/good.yml: ok"), "{}", r.stdout);
    assert!(
        r.stdout.contains(
            "::error file=ci/bad.yml,line=8,col=16,title=codebuild-retry-gate policy::[unknown-value] unknown status `FAULTY`"
        ),
        "{}",
        r.stdout
    );
    let annotations = r
        .stdout
        .lines()
        .filter(|l| l.starts_with("::error file=ci/bad.yml"))
        .count();
    assert!(annotations >= 5, "every problem is annotated: {}", r.stdout);

    let r = run(gate()
        .current_dir(dir.path())
        .arg("validate")
        .env("GITHUB_ACTIONS", "true")
        .env("INPUT_POLICY", "ci/missing.yml"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stdout.contains("::error file=ci/missing.yml"),
        "{}",
        r.stdout
    );
}

#[test]
fn unknown_subcommand_is_a_usage_error() {
    let r = run(gate().arg("frobnicate"));
    assert_eq!(r.code, 2);
}

#[test]
fn help_and_version_read_well() {
    let r = run(gate().arg("--help"));
    assert_eq!(r.code, 0);
    for word in ["explain", "validate", "schema", "Exit codes"] {
        assert!(
            r.stdout.contains(word),
            "--help lacks {word}:\n{}",
            r.stdout
        );
    }
    let r = run(gate().arg("--version"));
    assert_eq!(r.code, 0);
    assert_eq!(
        r.stdout,
        format!("codebuild-retry-gate {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// Issue 20.7: `--github-token` is in `--help` of each command that takes it, with the
/// warning that a token on the command line shows in the process list.
#[test]
fn help_warns_that_a_token_on_the_command_line_shows_in_the_process_list() {
    for command in ["gate", "reconcile", "simulate"] {
        let r = run(gate().args([command, "--help"]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let text = r.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
        let at = text
            .find("--github-token")
            .unwrap_or_else(|| panic!("{command} --help lacks --github-token:\n{}", r.stdout));
        let after = &text[at..];
        assert!(
            after.contains("Prefer the GITHUB_TOKEN variable") && after.contains("process list"),
            "{command} --help:\n{}",
            r.stdout
        );
    }
}

/// The README's first command and its policy sketch work as copied.
#[test]
fn readme_examples_work_as_written() {
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    let command = readme
        .lines()
        .find(|l| l.starts_with("cargo run -q -- explain "))
        .expect("README shows the explain command");
    let args: Vec<&str> = command
        .trim_start_matches("cargo run -q -- ")
        .split_whitespace()
        .collect();
    let r = run(gate().args(&args));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let shown = readme
        .lines()
        .skip_while(|l| *l != command)
        .find(|l| l.starts_with("REFUSE") || l.starts_with("RETRY"))
        .expect("README shows the output");
    assert_eq!(
        r.stdout.lines().next(),
        Some(shown),
        "README output is stale"
    );
    for line in readme
        .lines()
        .skip_while(|l| *l != command)
        .skip(3)
        .take_while(|l| !l.contains("..."))
    {
        if line.starts_with("```") {
            continue;
        }
        assert!(
            r.stdout.contains(line),
            "README line not in the output: {line}"
        );
    }

    let policy = readme
        .split("```yaml\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .find(|block| block.contains("version: 1"))
        .expect("README has a policy sketch");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yml");
    std::fs::write(&file, policy).unwrap();
    let r = run(gate().arg("validate").arg(&file));
    assert_eq!(r.code, 0, "README policy: {}", r.stderr);
}

#[test]
fn under_actions_policy_errors_are_annotations_on_file_line_and_column() {
    let r = run(gate()
        .env("GITHUB_ACTIONS", "true")
        .args(["validate", "tests/fixtures/policies/bad-values.yml"]));
    assert_eq!(r.code, 2);
    assert!(
        r.stdout.lines().any(|l| l
            == "::error file=tests/fixtures/policies/bad-values.yml,line=8,col=16,title=codebuild-retry-gate policy::[unknown-value] unknown status `FAULTY` (help: did you mean `FAULT`?)"),
        "{}",
        r.stdout
    );
    assert_eq!(
        r.stdout
            .lines()
            .filter(|l| l.starts_with("::error "))
            .count(),
        8,
        "{}",
        r.stdout
    );

    let r = explain_example(
        "test-failure",
        &["--policy", "tests/fixtures/policies/unknown-keys.yml"],
    );
    assert_eq!(r.code, 2);
    assert!(
        !r.stdout.contains("::error"),
        "no annotations outside Actions"
    );
}

#[test]
fn explain_markdown_is_the_job_summary() {
    for name in ["test-failure", "collateral-stopped"] {
        let r = explain_example(name, &["--format", "markdown"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        insta::assert_snapshot!(format!("explain_markdown_{name}"), r.stdout);
    }
}

/// Issue 15: `explain --now` is the moment of judgment. The batch failed at 14:08:35; an
/// hour later three retries of other batches were made. Judged at 14:10 (before them) the
/// daily budget of 3 has room; at 16:00 (after them) it is spent; without `--now`, the
/// latest moment in the captures (the last retry) is the moment, so it is spent too.
#[test]
fn explain_now_moves_the_windows_end() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(
        &policy,
        "version: 1\nbudget: {per-project-per-day: 3}\nrules: [{name: infrastructure, phases: [PROVISIONING]}]\n",
    )
    .unwrap();
    let marker = |at: &str| {
        serde_json::json!({"phaseType": "FAILED", "phaseStatus": "RETRY",
                           "startTime": at, "endTime": at, "contexts": []})
    };
    let other = serde_json::json!({"buildBatches": [{
        "id": "acme-api:other-0000", "projectName": "acme-api",
        "buildBatchStatus": "IN_PROGRESS", "complete": false,
        "resolvedSourceVersion": "fedcba9876543210fedcba9876543210fedcba98",
        "startTime": "2026-11-20T13:00:00+00:00",
        "phases": [marker("2026-11-20T15:00:00+00:00"), marker("2026-11-20T15:10:00+00:00"),
                   marker("2026-11-20T15:20:00+00:00")],
    }]});
    let history = dir.path().join("history.json");
    std::fs::write(&history, other.to_string()).unwrap();
    let explain = |now: Option<&str>| {
        let mut cmd = gate();
        cmd.args(["explain", "examples/batches/provisioning-fault/batch.json"])
            .args([
                "--builds",
                "examples/batches/provisioning-fault/builds.json",
            ])
            .arg("--history")
            .arg(&history)
            .arg("--policy")
            .arg(&policy)
            .args(["--format", "json"]);
        if let Some(now) = now {
            cmd.args(["--now", now]);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{now:?}: {}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()
    };
    let before = explain(Some("2026-11-20T14:10:00Z"));
    assert_eq!(before["decision"], "retry", "{before:#}");
    assert_eq!(before["budget"]["per_project_per_day"]["used"], 0);
    let after = explain(Some("2026-11-20T16:00:00+00:00"));
    assert_eq!(after["decision"], "refuse", "{after:#}");
    assert_eq!(after["code"], "project-budget-spent");
    assert_eq!(after["budget"]["per_project_per_day"]["used"], 3);
    assert!(
        after["reason"]
            .as_str()
            .unwrap()
            .contains("in the 24 hours before this decision"),
        "{after:#}"
    );
    // Epoch seconds work the same; 2026-11-20T15:05:00Z is after the first retry only.
    let between = explain(Some("1795187100"));
    assert_eq!(between["budget"]["per_project_per_day"]["used"], 1);
    // Without --now: the latest moment recorded in the captures (15:20, the last retry).
    let latest = explain(None);
    assert_eq!(latest["code"], "project-budget-spent", "{latest:#}");
    // A day after the retries they are out of the window again.
    let next_day = explain(Some("2026-11-21T15:30:00Z"));
    assert_eq!(next_day["decision"], "retry", "{next_day:#}");

    // A --now that is not a time is a usage error (exit 2) that says what it expects.
    let r = run(gate().args([
        "explain",
        "examples/batches/provisioning-fault/batch.json",
        "--now",
        "yesterday",
    ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("`yesterday` is neither an ISO-8601 time"),
        "{}",
        r.stderr
    );
}

/// Issue 18: `explain` and the job summary show the canonical form a rule matched:
/// `refs/heads/main^{SHA}` (AWS's faster-download form) is refused by never-on-main.
#[test]
fn explain_shows_the_canonical_source_version_used() {
    let dir = tempfile::tempdir().unwrap();
    let sha = "046e8b67481d53bdc86c3f6affdd5d1afae6d369";
    let batch = std::fs::read_to_string(
        common::root().join("examples/batches/provisioning-fault/batch.json"),
    )
    .unwrap()
    .replace(
        "\"sourceVersion\": \"pr/1187\"",
        &format!("\"sourceVersion\": \"refs/heads/main^{{{sha}}}\""),
    );
    assert!(batch.contains("refs/heads/main^{"), "the example changed");
    let path = dir.path().join("batch.json");
    std::fs::write(&path, batch).unwrap();
    let policy = "policies/examples/never-on-main.yml";
    // GitHub lists no branch whose head the commit is: only the rule by name can tell.
    let github = dir.path().join("github.json");
    std::fs::write(
        &github,
        r#"{"commits": {"b80469b84b2d451c62f746b484e61ceb95bd447e": {"branches": []}}}"#,
    )
    .unwrap();
    let explain = |format: &str| {
        run(gate()
            .args([
                "explain", "--policy", policy, "--format", format, "--github",
            ])
            .arg(&github)
            .arg(&path))
    };
    let text = explain("text");
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.starts_with("REFUSE"), "{}", text.stdout);
    assert!(
        text.stdout.contains(&format!(
            "  source   refs/heads/main^{{{sha}}}   read as main, refs/heads/main\n"
        )),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains(&format!(
            "refused by rule `never-on-main-by-name` (sourceVersion `refs/heads/main^{{{sha}}}` read as `main`)"
        )),
        "{}",
        text.stdout
    );
    let markdown = explain("markdown");
    assert!(
        markdown.stdout.contains(&format!(
            "- **Source version**: `refs/heads/main^{{{sha}}}`, read as `main`, `refs/heads/main`\n"
        )),
        "{}",
        markdown.stdout
    );
    let json: serde_json::Value = serde_json::from_str(&explain("json").stdout).unwrap();
    assert_eq!(
        json["source_version"]["canonical"],
        serde_json::json!(["main", "refs/heads/main"])
    );
    assert_eq!(json["decision"], "refuse");
}

/// Issue 18: `branches` and `pull-request-bases` are checked like every other glob list, each
/// problem at its line and column; a misspelt key gets a suggestion.
#[test]
fn validate_checks_branches_and_pull_request_bases() {
    let file = "tests/fixtures/policies/github-facts-bad-values.yml";
    let r = run(gate().arg("validate").arg(file));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "{file}:11:5: error[unknown-key]: unknown key `pull-request-base` in a rule\n  help: did you mean `pull-request-bases`?"
        )),
        "{}",
        r.stderr
    );
    // Unknown keys are reported first and alone; without the typo, the values.
    let dir = tempfile::tempdir().unwrap();
    let fixed = dir.path().join("p.yml");
    let text = std::fs::read_to_string(common::root().join(file)).unwrap();
    std::fs::write(
        &fixed,
        text.replace("pull-request-base: [main]", "pull-request-bases: [main]"),
    )
    .unwrap();
    let r = run(gate().arg("validate").arg(&fixed));
    assert_eq!(r.code, 2, "{}", r.stderr);
    for line in [
        ":5:15: error[empty-list]: `branches` is empty, so the rule can never match",
        ":7:26: error[bad-glob]: bad glob `release/[0-9`: unclosed character class; missing ']'",
        ":9:22: error[bad-glob]: an empty pattern matches only empty text",
        "3 problems in 1 of 1 file",
    ] {
        assert!(
            r.stderr.contains(line),
            "missing {line:?} in:\n{}",
            r.stderr
        );
    }
}

/// Issue 18: offline, a rule that selects by GitHub's facts is judged from `--github FILE`;
/// without it the rule cannot be judged, and says so (a refusal that might apply refuses).
#[test]
fn explain_takes_github_facts_from_a_file_and_without_them_cannot_judge() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yml");
    std::fs::write(
        &policy,
        "version: 1\nrules:\n  - name: prs-into-main\n    pull-request-bases: [main]\n",
    )
    .unwrap();
    let example = "examples/batches/provisioning-fault/batch.json";
    let sha = "b80469b84b2d451c62f746b484e61ceb95bd447e";
    let explain = |github: Option<&std::path::Path>| {
        let mut cmd = gate();
        cmd.args(["explain", example, "--format", "json", "--policy"])
            .arg(&policy);
        if let Some(file) = github {
            cmd.arg("--github").arg(file);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str::<serde_json::Value>(&r.stdout).unwrap()
    };
    let report = explain(None);
    assert_eq!(report["decision"], "refuse");
    assert_eq!(report["groups"][1]["code"], "could-not-judge");
    let detail = report["groups"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("were not read (offline: give them with --github FILE)"),
        "{detail}"
    );

    // The pulls as GitHub's endpoint returns them: an open pull request into main.
    let github = dir.path().join("github.json");
    let pull = serde_json::json!({
        "number": 7, "state": "open",
        "head": {"ref": "fix", "sha": sha, "repo": {"full_name": "acme/acme-api"}},
        "base": {"ref": "main", "sha": "0000000000000000000000000000000000000b45"},
    });
    std::fs::write(
        &github,
        serde_json::json!({"commits": {sha: {"pulls": [pull]}}}).to_string(),
    )
    .unwrap();
    let report = explain(Some(&github));
    assert_eq!(report["decision"], "retry", "{report}");
    assert_eq!(report["groups"][1]["rule"]["name"], "prs-into-main");

    // A file that is not GitHub's facts: exit 2, naming the file.
    std::fs::write(&github, r#"{"commit": {}}"#).unwrap();
    let r = run(gate().args(["explain", example, "--github"]).arg(&github));
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("github.json: not GitHub facts"),
        "{}",
        r.stderr
    );
}

/// Issue 17: `explain` with captured test reports — `explain DIR` picks up `reports.json`
/// and `test-cases*.json`, `--reports`/`--test-cases` name them; a quarantine list retries,
/// a test off the list is named, and without the test cases the rule cannot be judged.
#[test]
fn explain_judges_tests_conditions_from_captured_reports() {
    let dir = "examples/batches/quarantined-tests";
    let json = |args: &[&str]| -> serde_json::Value {
        let r = run(gate().arg("explain").args(args).args(["--format", "json"]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).unwrap()
    };
    let quarantine = "policies/examples/quarantined-tests.yml";
    let report = json(&[dir, "--policy", quarantine]);
    assert_eq!(report["decision"], "retry", "{report}");
    // The same captures named one by one.
    let by_flags = json(&[
        &format!("{dir}/batch.json"),
        "--builds",
        &format!("{dir}/builds.json"),
        "--reports",
        &format!("{dir}/reports.json"),
        "--test-cases",
        &format!("{dir}/test-cases.json"),
        "--policy",
        quarantine,
    ]);
    assert_eq!(by_flags["decision"], "retry");
    // Without the test cases: the report counts 2 failed tests, none were read.
    let unread = json(&[
        &format!("{dir}/batch.json"),
        "--builds",
        &format!("{dir}/builds.json"),
        "--reports",
        &format!("{dir}/reports.json"),
        "--policy",
        quarantine,
    ]);
    assert_eq!(unread["decision"], "refuse");
    assert_eq!(unread["code"], "could-not-judge", "{unread}");
    // A quarantine list without the search test: refused, naming it.
    let tmp = tempfile::tempdir().unwrap();
    let policy = tmp.path().join("p.yml");
    std::fs::write(
        &policy,
        "version: 1\nrules:\n  - name: q\n    tests:\n      failed: [\"checkout.spec.ts::*\"]\n",
    )
    .unwrap();
    let named = json(&[dir, "--policy", policy.to_str().unwrap()]);
    assert_eq!(named["decision"], "refuse");
    let reason = named["reason"].as_str().unwrap();
    assert!(
        reason.contains(
            "test `search.spec.ts::search suggests as you type` failed and is not quarantined"
        ),
        "{reason}"
    );
    // The built-in default policy has no `tests` rule: a real test failure, refused.
    assert_eq!(json(&[dir])["decision"], "refuse");
}

/// Issue 15.4: the AWS CLI's own `stop-build-batch` example (reference/awscli-examples, its
/// placeholders filled in): the batch reads STOPPED and `complete` while `linux_small` is
/// still IN_PROGRESS. With a rule that names STOPPED the gate waits, and says a build is
/// still being stopped (not "failed but not complete"); without one, a stop is a decision:
/// refused (`batch-stopped`), as docs/policy.md ("How the gate decides", 2 and 3) says.
#[test]
fn a_stopped_complete_batch_with_a_build_still_running_waits_for_it_to_stop() {
    let capture = "tests/fixtures/captures/stop-build-batch.json";
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("stops.yml");
    std::fs::write(
        &policy,
        "version: 1\nrules: [{name: stops, statuses: [STOPPED]}]\n",
    )
    .unwrap();
    let r = run(gate()
        .args(["explain", capture, "--format", "json", "--policy"])
        .arg(&policy));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["decision"], "wait", "{report:#}");
    assert_eq!(report["code"], "batch-not-complete");
    assert_eq!(
        report["reason"],
        "Batch was stopped, but a build is still being stopped; waiting for it to end"
    );

    let r = run(gate().args(["explain", capture, "--format", "json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["decision"], "refuse", "{report:#}");
    assert_eq!(report["code"], "batch-stopped");
}

/// Issue 15.4: docs/policy.md ("How the gate decides", 5, and the `no-failure-found` row of
/// the decision codes) says a batch whose only failures are `ignoreFailure` groups is
/// `no-failure-found`, though CodeBuild marks its IN_PROGRESS batch phase FAILED, and that
/// a rule allowing that phase does not make it a retry. The binary does what the page says.
#[test]
fn a_batch_whose_only_failures_are_ignored_is_no_failure_found() {
    let dir = tempfile::tempdir().unwrap();
    let batch = serde_json::json!({"buildBatches": [{
        "id": "acme-web:7c1e0f4a-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
        "projectName": "acme-web",
        "buildBatchStatus": "FAILED",
        "complete": true,
        "resolvedSourceVersion": "0123456789abcdef0123456789abcdef01234567",
        "startTime": "2026-11-20T14:00:00+00:00",
        "endTime": "2026-11-20T14:09:00+00:00",
        "phases": [
            {"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED",
             "startTime": "2026-11-20T14:00:00+00:00", "endTime": "2026-11-20T14:00:01+00:00"},
            {"phaseType": "DOWNLOAD_BATCHSPEC", "phaseStatus": "SUCCEEDED",
             "startTime": "2026-11-20T14:00:01+00:00", "endTime": "2026-11-20T14:00:30+00:00"},
            {"phaseType": "IN_PROGRESS", "phaseStatus": "FAILED",
             "startTime": "2026-11-20T14:00:30+00:00", "endTime": "2026-11-20T14:09:00+00:00",
             "contexts": [{"statusCode": "", "message": ""}]},
            {"phaseType": "FAILED", "startTime": "2026-11-20T14:09:00+00:00"}
        ],
        "buildGroups": [
            {"identifier": "DOWNLOAD_SOURCE", "ignoreFailure": false,
             "currentBuildSummary": {"arn": "arn:aws:codebuild:us-east-1:111122223333:build/acme-web:0b0e5a6c-0000-4000-8000-000000000001",
                                     "buildStatus": "SUCCEEDED"}},
            {"identifier": "unit_tests", "ignoreFailure": false,
             "currentBuildSummary": {"arn": "arn:aws:codebuild:us-east-1:111122223333:build/acme-web:0b0e5a6c-0000-4000-8000-000000000002",
                                     "buildStatus": "SUCCEEDED"}},
            {"identifier": "lint", "ignoreFailure": true,
             "currentBuildSummary": {"arn": "arn:aws:codebuild:us-east-1:111122223333:build/acme-web:0b0e5a6c-0000-4000-8000-000000000003",
                                     "buildStatus": "FAILED"}}
        ]
    }]});
    let path = dir.path().join("batch.json");
    std::fs::write(&path, batch.to_string()).unwrap();
    // The built-in policy, and one whose rule allows any failure in the IN_PROGRESS phase.
    let phase_rule = dir.path().join("in-progress.yml");
    std::fs::write(
        &phase_rule,
        "version: 1\nrules: [{name: batch-phase, phases: [IN_PROGRESS]}]\n",
    )
    .unwrap();
    for policy in [None, Some(&phase_rule)] {
        let mut cmd = gate();
        cmd.arg("explain").arg(&path).args(["--format", "json"]);
        if let Some(policy) = policy {
            cmd.arg("--policy").arg(policy);
        }
        let r = run(&mut cmd);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["decision"], "refuse", "{policy:?}: {report:#}");
        assert_eq!(report["code"], "no-failure-found", "{policy:?}");
        assert_eq!(
            report["reason"],
            "Not retried: the batch failed, but no failed group or batch phase explains it"
        );
        let lint = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["group"] == "lint")
            .unwrap();
        assert_eq!(lint["code"], "ignored-failure", "{lint}");
    }
}
