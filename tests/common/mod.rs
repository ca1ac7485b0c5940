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

/// `gate` as the runner starts it: the workspace as working directory, dummy AWS
/// credentials and no AWS config files, CodeBuild and GitHub reached only through
/// AWS_ENDPOINT_URL_CODEBUILD and GITHUB_API_URL, and the runner's files in the workspace.
pub fn gate_in(
    workspace: &Path,
    codebuild: &str,
    github: &str,
    token: &str,
    repo: &str,
    args: &[&str],
) -> Command {
    command_in(workspace, codebuild, github, token, repo, "gate", args)
}

/// Like [`gate_in`], for any subcommand (`reconcile`, ...).
pub fn command_in(
    workspace: &Path,
    codebuild: &str,
    github: &str,
    token: &str,
    repo: &str,
    subcommand: &str,
    args: &[&str],
) -> Command {
    let mut cmd = gate();
    cmd.current_dir(workspace)
        .arg(subcommand)
        .args(args)
        .env("AWS_ENDPOINT_URL_CODEBUILD", codebuild)
        .env("AWS_ACCESS_KEY_ID", "AKIDTESTGATE")
        .env("AWS_SECRET_ACCESS_KEY", "secret-aws-key-for-tests")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", workspace.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            workspace.join("no-aws-credentials"),
        )
        .env("GITHUB_API_URL", github)
        .env("GITHUB_TOKEN", token)
        .env("GITHUB_REPOSITORY", repo)
        .env("GITHUB_OUTPUT", workspace.join("output"))
        .env("GITHUB_STEP_SUMMARY", workspace.join("summary.md"));
    cmd
}

/// `name<<DELIM\nvalue\nDELIM` entries of a GITHUB_OUTPUT file.
pub fn parse_outputs(path: &Path) -> std::collections::BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = std::collections::BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delimiter) = line.split_once("<<").expect("name<<DELIM");
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delimiter {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_string(), value.join("\n"));
    }
    out
}
