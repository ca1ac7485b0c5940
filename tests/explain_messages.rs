//! Issue 19.3: `explain` says what to do when its captures are mixed up.

mod common;

use common::{gate, run};

#[test]
fn builds_given_as_the_batch_say_to_pass_them_with_builds() {
    let r = run(gate()
        .arg("explain")
        .arg("examples/batches/test-failure/builds.json"));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        "error: examples/batches/test-failure/builds.json: not a CodeBuild batch capture: this is batch-get-builds output: pass it with --builds (the batch comes from `aws codebuild batch-get-build-batches`)\n"
    );
}

#[test]
fn builds_of_another_batch_are_named_as_such() {
    // Without --builds: the old advice.
    let r = run(gate()
        .arg("explain")
        .arg("examples/batches/test-failure/batch.json"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(
            "no rule matches this failure (no phase details: pass the builds with --builds)"
        ),
        "{}",
        r.stdout
    );
    // With builds of another batch: says so instead.
    let r = run(gate()
        .arg("explain")
        .arg("examples/batches/test-failure/batch.json")
        .args(["--builds", "examples/batches/fast-fail/builds.json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("REFUSE  Not retried: unit_tests failed, no rule matches this failure (no phase details: none of the builds given is this group's build; --builds needs this batch's builds)"),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("pass the builds with --builds"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_stopped_group_without_its_build_says_which_builds_are_missing() {
    let dir = "examples/batches/stopped-batch";
    let other = "examples/batches/test-failure/builds.json";
    let r = run(gate()
        .arg("explain")
        .arg(format!("{dir}/batch.json"))
        .args(["--builds", other]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        !r.stdout.contains("pass the builds with --builds"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("(no build details: none of the builds given is this group's build, so a fast-fail stop cannot be told; --builds needs this batch's builds)"),
        "{}",
        r.stdout
    );
}
