//! Helpers shared by the CLI tests: run the real binary with a scrubbed environment.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary, run from the repository root with no GITHUB_*, RUNNER_*, AWS_* or INPUT_*
/// variables, so nothing from the developer's or CI's environment leaks into a test.
pub fn gate() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_codebuild-retry-gate"));
    cmd.current_dir(root());
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy().to_string();
        if ["GITHUB_", "RUNNER_", "AWS_", "INPUT_", "ACTIONS_"]
            .iter()
            .any(|p| key.starts_with(p))
            || key == "CI"
        {
            cmd.env_remove(&key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("the binary runs");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// `explain` on a shipped example scenario, with whichever captures it has.
pub fn explain_example(name: &str, extra: &[&str]) -> Run {
    let dir = Path::new("examples/batches").join(name);
    let mut cmd = gate();
    cmd.arg("explain").arg(dir.join("batch.json"));
    for (flag, file) in [("--builds", "builds.json"), ("--history", "history.json")] {
        if root().join(&dir).join(file).exists() {
            cmd.arg(flag).arg(dir.join(file));
        }
    }
    cmd.args(extra);
    run(&mut cmd)
}
