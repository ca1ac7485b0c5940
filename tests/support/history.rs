//! A small builder of CodeBuild batch histories as the service returns them (epoch-second
//! times, the internal DOWNLOAD_SOURCE group, a FAILED/RETRY batch phase per retry, the
//! retried groups' earlier builds as prior summaries), for the simulate tests. Each batch is
//! a list of attempts; each attempt names the groups that fail in it and how.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

pub const ARN_PREFIX: &str = "arn:aws:codebuild:us-east-1:111122223333:";
/// The build groups of every batch (besides DOWNLOAD_SOURCE).
pub const GROUPS: [&str; 2] = ["build", "test"];
pub const HOUR: f64 = 3600.0;
pub const DAY: f64 = 86_400.0;

/// How a group fails in an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fail {
    /// PROVISIONING, CLIENT_ERROR, BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE: the built-in policy
    /// retries it (rule `infrastructure-phases`).
    Infra,
    /// BUILD, FAILED, COMMAND_EXECUTION_ERROR: the built-in policy refuses it (rule
    /// `command-failures`).
    Test,
}

/// How the last attempt of a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// It ended: SUCCEEDED, or FAILED when a group failed.
    Done,
    /// Still running (its builds too).
    Running,
}

pub struct History {
    pub project: String,
    pub batches: Vec<Value>,
    pub builds: Vec<Value>,
    /// The test reports of the builds that failed a test (`Fail::Test`), as
    /// `batch-get-reports` returns them, and their failed cases.
    pub reports: Vec<Value>,
    pub cases: Vec<Value>,
    /// The failed test of the next `Fail::Test` build is `suite::NAME`, NAME taken in turn
    /// from this list (default: `case0`).
    pub failing_tests: Vec<String>,
    n: u64,
    tests_failed: usize,
}

impl History {
    pub fn new(project: &str) -> History {
        History {
            project: project.to_string(),
            batches: Vec::new(),
            builds: Vec::new(),
            reports: Vec::new(),
            cases: Vec::new(),
            failing_tests: vec!["case0".to_string()],
            n: 0,
            tests_failed: 0,
        }
    }

    fn id(&mut self, kind: u32) -> String {
        self.n += 1;
        format!(
            "{}:{:08x}-{kind:04x}-4000-8000-000000000000",
            self.project, self.n
        )
    }

    /// A build requested at `at`; returns its summary and when it ended.
    fn build(
        &mut self,
        batch_arn: &str,
        commit: &str,
        at: f64,
        fail: Option<Fail>,
        running: bool,
    ) -> (Value, Option<f64>) {
        let id = self.id(0xb);
        let arn = format!("{ARN_PREFIX}build/{id}");
        let ok = |kind: &str, start: f64, end: f64| {
            json!({"phaseType": kind, "phaseStatus": "SUCCEEDED", "startTime": start, "endTime": end,
                   "durationInSeconds": (end - start) as i64,
                   "contexts": [{"statusCode": "", "message": ""}]})
        };
        let mut phases = vec![
            json!({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": at, "endTime": at + 1.0, "durationInSeconds": 1}),
        ];
        let (status, end) = if running {
            phases.push(ok("PROVISIONING", at + 1.0, at + 20.0));
            phases.push(json!({"phaseType": "BUILD", "startTime": at + 20.0}));
            ("IN_PROGRESS", None)
        } else {
            match fail {
                Some(Fail::Infra) => {
                    phases.push(json!({"phaseType": "PROVISIONING", "phaseStatus": "CLIENT_ERROR",
                        "startTime": at + 1.0, "endTime": at + 30.0, "durationInSeconds": 29,
                        "contexts": [{"statusCode": "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE",
                                      "message": "Unable to pull customer's container image. toomanyrequests"}]}));
                    ("FAILED", Some(at + 30.0))
                }
                Some(Fail::Test) => {
                    phases.push(ok("PROVISIONING", at + 1.0, at + 20.0));
                    phases.push(json!({"phaseType": "BUILD", "phaseStatus": "FAILED",
                        "startTime": at + 20.0, "endTime": at + 300.0, "durationInSeconds": 280,
                        "contexts": [{"statusCode": "COMMAND_EXECUTION_ERROR",
                                      "message": "Error while executing command: make test. Reason: exit status 2"}]}));
                    ("FAILED", Some(at + 300.0))
                }
                None => {
                    phases.push(ok("PROVISIONING", at + 1.0, at + 20.0));
                    phases.push(ok("BUILD", at + 20.0, at + 600.0));
                    ("SUCCEEDED", Some(at + 600.0))
                }
            }
        };
        if let Some(end) = end {
            phases.push(json!({"phaseType": "COMPLETED", "startTime": end}));
        }
        let mut build = json!({
            "id": id, "arn": arn, "startTime": at, "buildStatus": status,
            "resolvedSourceVersion": commit, "projectName": self.project,
            "phases": phases, "buildBatchArn": batch_arn, "buildComplete": end.is_some(),
        });
        if let Some(end) = end {
            build["endTime"] = json!(end);
        }
        if let (Some(Fail::Test), Some(end)) = (fail, end) {
            let report = format!("{ARN_PREFIX}report/{}-tests:{id}", self.project);
            let name = self.failing_tests[self.tests_failed % self.failing_tests.len()].clone();
            self.tests_failed += 1;
            build["reportArns"] = json!([report]);
            self.reports.push(json!({
                "arn": report, "type": "TEST", "status": "FAILED", "truncated": false,
                "executionId": arn, "created": end, "expired": end + 30.0 * DAY,
                "testSummary": {"total": 10, "statusCounts": {"FAILED": 1, "SUCCEEDED": 9}}
            }));
            self.cases.push(json!({
                "reportArn": report, "prefix": "suite", "name": name, "status": "FAILED",
                "message": "expected 200, got 502"
            }));
        }
        self.builds.push(build);
        (
            json!({"arn": arn, "requestedOn": at, "buildStatus": status}),
            end,
        )
    }

    /// A batch of `commit` started at `start` (epoch seconds): one attempt per entry of
    /// `attempts`, each naming the groups that fail in it; a retry (by hand) follows every
    /// attempt but the last, `retry_delay` seconds after the attempt ended. Returns its id.
    pub fn batch(
        &mut self,
        commit: &str,
        start: f64,
        attempts: &[&[(&str, Fail)]],
        retry_delay: f64,
        end: End,
    ) -> String {
        let id = self.id(0xba);
        let arn = format!("{ARN_PREFIX}build-batch/{id}");
        let (source, _) = self.build(&arn, commit, start + 0.5, None, false);
        let mut phases = Vec::new();
        let mut current: Vec<Option<Value>> = vec![None; GROUPS.len()];
        let mut prior: Vec<Vec<Value>> = vec![Vec::new(); GROUPS.len()];
        let mut ok = vec![false; GROUPS.len()];
        let mut t = start;
        let mut batch_end = None;
        let mut status = "IN_PROGRESS";
        for (k, fails) in attempts.iter().enumerate() {
            let last = k + 1 == attempts.len();
            let running = last && end == End::Running;
            phases.push(json!({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED",
                               "startTime": t, "endTime": t + 1.0, "durationInSeconds": 1}));
            let mut ends = vec![t + 1.0];
            for (g, name) in GROUPS.iter().enumerate() {
                if ok[g] {
                    continue;
                }
                let fail = fails.iter().find(|(n, _)| n == name).map(|(_, f)| *f);
                let (summary, ended) = self.build(&arn, commit, t + 2.0 + g as f64, fail, running);
                ends.extend(ended);
                if let Some(old) = current[g].replace(summary) {
                    prior[g].push(old);
                }
                ok[g] = fail.is_none() && !running;
            }
            if running {
                phases.push(json!({"phaseType": "IN_PROGRESS", "startTime": t + 1.0}));
                break;
            }
            let t2 = ends.iter().copied().fold(t, f64::max) + 5.0;
            let failed = !fails.is_empty();
            phases.push(json!({"phaseType": "IN_PROGRESS",
                               "phaseStatus": if failed { "FAILED" } else { "SUCCEEDED" },
                               "startTime": t + 1.0, "endTime": t2, "durationInSeconds": (t2 - t - 1.0) as i64}));
            if last {
                status = if failed { "FAILED" } else { "SUCCEEDED" };
                phases.push(json!({"phaseType": status, "startTime": t2}));
                batch_end = Some(t2);
                break;
            }
            let retried = t2 + retry_delay;
            phases.push(
                json!({"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": t2,
                               "endTime": retried, "durationInSeconds": retry_delay as i64}),
            );
            t = retried;
        }
        let mut groups = vec![
            json!({"identifier": "DOWNLOAD_SOURCE", "ignoreFailure": false,
                                     "currentBuildSummary": source}),
        ];
        for (g, name) in GROUPS.iter().enumerate() {
            let mut group = json!({"identifier": name, "dependsOn": [], "ignoreFailure": false,
                                   "currentBuildSummary": current[g]});
            if !prior[g].is_empty() {
                group["priorBuildSummaryList"] = json!(prior[g]);
            }
            groups.push(group);
        }
        let mut batch = json!({
            "id": id, "arn": arn, "startTime": start, "buildBatchStatus": status,
            "currentPhase": if batch_end.is_some() { status } else { "IN_PROGRESS" },
            "sourceVersion": "pr/7", "resolvedSourceVersion": commit,
            "projectName": self.project, "phases": phases, "complete": batch_end.is_some(),
            "buildGroups": groups,
        });
        if let Some(end) = batch_end {
            batch["endTime"] = json!(end);
        }
        self.batches.push(batch);
        id
    }

    pub fn batches_json(&self) -> Value {
        json!({"buildBatches": self.batches, "buildBatchesNotFound": []})
    }

    pub fn builds_json(&self) -> Value {
        json!({"builds": self.builds, "buildsNotFound": []})
    }

    pub fn reports_json(&self) -> Value {
        json!({"reports": self.reports, "reportsNotFound": []})
    }

    pub fn cases_json(&self) -> Value {
        json!({"testCases": self.cases})
    }

    /// Writes `reports.json` and `test-cases.json` into `dir`.
    pub fn write_reports(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let reports = dir.join("reports.json");
        let cases = dir.join("test-cases.json");
        std::fs::write(&reports, self.reports_json().to_string()).unwrap();
        std::fs::write(&cases, self.cases_json().to_string()).unwrap();
        (reports, cases)
    }

    /// Writes `batches.json` and `builds.json` into `dir`.
    pub fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let batches = dir.join("batches.json");
        let builds = dir.join("builds.json");
        std::fs::write(&batches, self.batches_json().to_string()).unwrap();
        std::fs::write(&builds, self.builds_json().to_string()).unwrap();
        (batches, builds)
    }
}

/// A 40-hex-digit commit made of one repeated digit.
pub fn sha(digit: char) -> String {
    std::iter::repeat_n(digit, 40).collect()
}
