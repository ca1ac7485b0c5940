//! `.ci/check-pins` (called by `.ci/check-action`): every pinned action is in the checked-in
//! table of runtimes, and none runs on node20 or older. Offline: fixtures and the repository's
//! own workflows, no network.

use std::path::Path;
use std::process::{Command, Output};

fn check_pins(table: &str, files: &[&str]) -> Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new("bash")
        .arg(root.join(".ci/check-pins"))
        .arg(root.join(table))
        .args(files.iter().map(|f| root.join(f)))
        .output()
        .expect("bash runs .ci/check-pins")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const FIXTURES: &str = "tests/fixtures/check-pins";

#[test]
fn an_action_pinned_on_node20_or_older_fails_the_check() {
    let out = check_pins(
        &format!("{FIXTURES}/pinned-actions"),
        &[&format!("{FIXTURES}/node20.yml")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("node20.yml:7: example/setup-thing@1111111111111111111111111111111111111111 (v1.0.0) runs on node20, which GitHub has deprecated: pin a release that runs on node24"),
        "{err}"
    );
    // An action in a subdirectory of its repository is judged by its repository's line.
    assert!(
        err.contains("node20.yml:8: example/old-thing@3333333333333333333333333333333333333333 (v0.9.0) runs on node16"),
        "{err}"
    );
    assert!(err.contains("2 problem(s)"), "{err}");
}

#[test]
fn node24_docker_and_local_actions_pass() {
    let out = check_pins(
        &format!("{FIXTURES}/pinned-actions"),
        &[&format!("{FIXTURES}/node24.yml")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn a_pin_missing_from_the_table_or_with_the_wrong_tag_fails() {
    let out = check_pins(
        &format!("{FIXTURES}/pinned-actions"),
        &[&format!("{FIXTURES}/unknown.yml")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("example/setup-thing@5555555555555555555555555555555555555555 is not in"),
        "{err}"
    );
    assert!(
        err.contains("is commented '# v1.0.0' but") && err.contains("records it as v2.0.0"),
        "{err}"
    );
}

#[test]
fn the_repositorys_own_pins_are_known_and_on_a_supported_runtime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec!["action.yml".to_string()];
    for dir in [".github/workflows", "docs/workflows"] {
        let mut found: Vec<String> = std::fs::read_dir(root.join(dir))
            .expect("workflow directory")
            .filter_map(|e| e.ok())
            .map(|e| format!("{dir}/{}", e.file_name().to_string_lossy()))
            .filter(|f| f.ends_with(".yml") || f.ends_with(".yaml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let out = check_pins(".ci/pinned-actions", &files);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // configure-aws-credentials is pinned at its v6 release everywhere (issue 19).
    for f in &files {
        let text = std::fs::read_to_string(root.join(f)).unwrap();
        for line in text
            .lines()
            .filter(|l| l.contains("configure-aws-credentials@"))
        {
            assert!(
                line.contains("@e6de054238d6b7531b4efff3b6587d9aade6a06c # v6.2.3"),
                "{f}: {line}"
            );
        }
    }
}
