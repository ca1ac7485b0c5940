#!/usr/bin/env python3
"""Writes a CodeBuild batch history of project `acme-web` in AWS CLI form.

    scripts/make-history.py examples/history                 # the curated history (38 batches)
    scripts/make-history.py --random 3000 --indent 0 target/bench-history   # for the benchmark

Writes DIR/batches.json (`aws codebuild batch-get-build-batches` output) and DIR/builds.json
(`aws codebuild batch-get-builds` output for every build of those batches). Deterministic:
the same arguments give the same bytes.

The shapes are those of examples/batches (real CodeBuild output, ids and times made up): the
internal DOWNLOAD_SOURCE group, empty contexts on successful build phases, a FAILED/RETRY
batch phase for each retry, the retried groups' earlier builds as prior build summaries
(a retry reruns the groups that did not succeed, as RETRY_FAILED_BUILDS does), groups that
depend on a failed group STOPPED while QUEUED, ISO-8601 times as the CLI prints them
(`--epoch` writes epoch seconds, as the wire carries them).

Every retry in this history was made by hand (the team has no gate yet): that is what
`simulate` compares the policy's decisions with.
"""
import argparse
import datetime
import json
import pathlib
import random

ACCOUNT = "111122223333"
REGION = "us-east-1"
PROJECT = "acme-web"
ARN = f"arn:aws:codebuild:{REGION}:{ACCOUNT}:"
SOURCE = {
    "type": "GITHUB",
    "location": f"https://github.com/acme/{PROJECT}.git",
    "gitCloneDepth": 1,
    "gitSubmodulesConfig": {"fetchSubmodules": False},
    "reportBuildStatus": False,
    "insecureSsl": False,
}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/service-role/codebuild-{PROJECT}-service-role"
KMS = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/aws/s3"
ENVIRONMENT = {
    "type": "LINUX_CONTAINER",
    "image": "aws/codebuild/standard:7.0",
    "computeType": "BUILD_GENERAL1_MEDIUM",
    "environmentVariables": [{"name": "NODE_ENV", "value": "test", "type": "PLAINTEXT"}],
    "privilegedMode": False,
    "imagePullCredentialsType": "CODEBUILD",
}

# Build groups: (identifier, dependsOn, command, seconds of its BUILD phase).
GROUPS = [
    ("lint", [], "npm run lint", 70),
    ("unit_tests", [], "npm test", 260),
    ("bundle", [], "npm run build", 180),
    ("integration_tests", [], "./ci/integration-tests.sh", 540),
    ("e2e_tests", ["bundle"], "npx playwright test --project=chromium", 420),
]
DEPENDS = {g: d for g, d, _, _ in GROUPS}
COMMAND = {g: c for g, _, c, _ in GROUPS}
SECONDS = {g: s for g, _, _, s in GROUPS}

PULL_LIMIT = (
    "Unable to pull customer's container image. CannotPullContainerError: Error response from "
    "daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit "
    "by authenticating and upgrading: https://www.docker.com/increase-rate-limit"
)
# How a group fails: (phase, phaseStatus, buildStatus, statusCode, message or None for the
# command's own "exit status N").
FAILURES = {
    "image-pull": ("PROVISIONING", "CLIENT_ERROR", "FAILED", "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE", PULL_LIMIT),
    "flaky": ("BUILD", "FAILED", "FAILED", "COMMAND_EXECUTION_ERROR", 75),
    "exit-1": ("BUILD", "FAILED", "FAILED", "COMMAND_EXECUTION_ERROR", 1),
    "timeout": ("BUILD", "TIMED_OUT", "TIMED_OUT", "BUILD_TIMED_OUT", "Build has timed out. "),
}
BUILD_PHASES = ["SUBMITTED", "QUEUED", "PROVISIONING", "DOWNLOAD_SOURCE", "INSTALL", "PRE_BUILD",
                "BUILD", "POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING"]
PHASE_SECONDS = {"SUBMITTED": 0.3, "QUEUED": 0.4, "PROVISIONING": 21.0, "DOWNLOAD_SOURCE": 3.5,
                 "INSTALL": 43.0, "PRE_BUILD": 1.0, "POST_BUILD": 2.3, "UPLOAD_ARTIFACTS": 0.5,
                 "FINALIZING": 3.0}
DAY0 = datetime.datetime(2026, 10, 29, tzinfo=datetime.timezone.utc)

# The curated history: (day, "HH:MM", sourceVersion, commit key, attempts, end, retry delays
# in minutes). Each attempt maps the groups that fail in it to how they fail; the others
# succeed. A retry (by hand) follows every attempt but the last. `end`: "done" (the last
# attempt ended: SUCCEEDED, or FAILED when something failed), "running" (the last attempt
# is still running), "stopped" (a person stopped the last attempt).
CURATED = [
    (-12, "10:05", "pr/2290", "c01", [{"integration_tests": "flaky"}, {}], "done", [9]),
    (0, "09:12", "main", "c02", [{}], "done", []),
    (0, "14:40", "pr/2301", "c03", [{"unit_tests": "exit-1"}], "done", []),
    (1, "10:02", "pr/2301", "c04", [{}], "done", []),
    (2, "11:30", "pr/2305", "c05", [{"bundle": "image-pull"}, {}], "done", [6]),
    (3, "09:45", "main", "c06", [{}], "done", []),
    (4, "16:20", "pr/2310", "c07", [{"integration_tests": "flaky"}, {}], "done", [14]),
    (5, "10:10", "pr/2310", "c08", [{"e2e_tests": "exit-1"}, {}], "done", [22]),
    (6, "13:00", "main", "c09", [{}], "done", []),
    (6, "17:00", "pr/2314", "c10", [{}], "done", []),
    (7, "15:35", "pr/2318", "c11", [{"integration_tests": "flaky"}, {"integration_tests": "flaky"}, {}], "done", [8, 12]),
    (8, "09:20", "pr/2318", "c12", [{"unit_tests": "exit-1"}, {"unit_tests": "exit-1"}], "done", [17]),
    (9, "11:11", "main", "c13", [{}], "done", []),
    (10, "10:40", "pr/2322", "c14", [{"integration_tests": "flaky"}, {"integration_tests": "flaky"}, {"integration_tests": "flaky"}], "done", [6, 11]),
    (11, "14:25", "pr/2325", "c15", [{"e2e_tests": "exit-1"}, {}], "done", [31]),
    (12, "09:00", "main", "c16", [{}], "done", []),
    # Four batches of one commit: the per-commit budget (4 in the example policy) runs out.
    (13, "10:00", "pr/2330", "c17", [{"integration_tests": "flaky"}, {"integration_tests": "flaky"}, {}], "done", [7, 9]),
    (13, "15:00", "pr/2330", "c17", [{"bundle": "image-pull"}, {}], "done", [5]),
    (14, "09:30", "pr/2330", "c17", [{"integration_tests": "flaky"}, {}], "done", [12]),
    (14, "16:00", "pr/2330", "c17", [{"integration_tests": "flaky"}, {}], "done", [19]),
    (15, "10:50", "main", "c18", [{}], "done", []),
    (16, "13:15", "pr/2336", "c19", [{"integration_tests": "timeout"}, {}], "done", [25]),
    (17, "09:05", "main", "c20", [{}], "done", []),
    (18, "11:45", "pr/2340", "c21", [{"lint": "exit-1"}], "done", []),
    (19, "10:30", "pr/2340", "c22", [{}], "done", []),
    (19, "17:20", "pr/2342", "c23", [{"integration_tests": "flaky"}, {}], "done", [10]),
    (20, "15:10", "pr/2344", "c24", [{"e2e_tests": "exit-1"}, {}], "done", [16]),
    (21, "09:50", "main", "c25", [{"bundle": "image-pull"}], "done", []),
    (22, "14:00", "pr/2350", "c26", [{}], "done", []),
    (23, "11:25", "pr/2352", "c27", [{}], "stopped", []),
    (24, "10:20", "main", "c28", [{}], "done", []),
    (25, "13:40", "pr/2355", "c29", [{"integration_tests": "flaky"}], "done", []),
    (26, "09:10", "pr/2355", "c30", [{}], "done", []),
    (27, "11:00", "main", "c31", [{"unit_tests": "exit-1"}, {}], "done", [13]),
    (27, "15:00", "pr/2360", "c32", [{}], "done", []),
    (28, "14:30", "pr/2362", "c33", [{"e2e_tests": "exit-1"}, {}], "done", [21]),
    (28, "16:00", "pr/2362", "c34", [{}], "done", []),
    (29, "08:30", "pr/2365", "c35", [{"bundle": "image-pull"}, {}], "running", [4]),
]


class Writer:
    def __init__(self, rng, epoch, groups=None):
        self.rng = rng
        self.epoch = epoch
        self.groups = [g for g in GROUPS if groups is None or g[0] in groups]
        self.batches = []
        self.builds = []
        self.build_number = 5000
        self.batch_number = 900

    def uuid(self):
        h = "%032x" % self.rng.getrandbits(128)
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:32]}"

    def t(self, seconds):
        # CodeBuild keeps milliseconds.
        seconds = round(seconds, 3)
        if self.epoch:
            return round(seconds, 3)
        at = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
        return at.isoformat(timespec="microseconds")

    def jitter(self, seconds):
        return seconds * self.rng.uniform(0.85, 1.2)

    def build(self, batch_arn, group, source_version, commit, requested, outcome, waits_until=None):
        """A build requested at `requested`: outcome None (succeeds), a FAILURES key, "stopped"
        (collateral: stopped while QUEUED at `waits_until`), "stopped-by-hand" (stopped in BUILD
        at `waits_until`) or "running" (still in BUILD)."""
        self.build_number += 1
        build_id = f"{PROJECT}:{self.uuid()}"
        arn = f"{ARN}build/{build_id}"
        t = requested
        phases = []
        status = "SUCCEEDED"
        ended = True

        def phase(kind, seconds, phase_status="SUCCEEDED", context=("", "")):
            nonlocal t
            start = t
            t = t + seconds
            p = {"phaseType": kind, "phaseStatus": phase_status, "startTime": self.t(start),
                 "endTime": self.t(t), "durationInSeconds": int(seconds)}
            if kind not in ("SUBMITTED", "QUEUED"):
                p["contexts"] = [{"statusCode": context[0], "message": context[1]}]
            phases.append(p)

        failure = FAILURES.get(outcome)
        for kind in BUILD_PHASES:
            if kind == "QUEUED" and waits_until is not None and outcome == "stopped":
                phase("QUEUED", max(waits_until - t, 0.2), "STOPPED")
                status = "STOPPED"
                break
            if kind == "QUEUED" and waits_until is not None:
                phase("QUEUED", max(waits_until - t, 0.4))
                continue
            seconds = SECONDS.get(group, 5.0) if kind == "BUILD" else PHASE_SECONDS[kind]
            if kind == "BUILD" and outcome == "running":
                phases.append({"phaseType": "BUILD", "startTime": self.t(t)})
                status = "IN_PROGRESS"
                ended = False
                break
            if kind == "BUILD" and outcome == "stopped-by-hand":
                phase("BUILD", max(self.stop_at - t, 1.0), "STOPPED")
                phase("FINALIZING", 2.1)
                status = "STOPPED"
                break
            if failure and failure[0] == kind:
                code = failure[4]
                message = code if isinstance(code, str) else (
                    f"Error while executing command: {COMMAND[group]}. Reason: exit status {code}")
                if kind == "BUILD":
                    seconds = self.jitter(seconds) * (0.4 if failure[1] != "TIMED_OUT" else 1.0)
                    if failure[1] == "TIMED_OUT":
                        seconds = 60 * 60.0
                else:
                    seconds = self.jitter(seconds) * 0.6
                phase(kind, seconds, failure[1], (failure[3], message))
                status = failure[2]
                if kind == "BUILD":
                    for after in ("POST_BUILD", "UPLOAD_ARTIFACTS", "FINALIZING"):
                        phase(after, self.jitter(PHASE_SECONDS[after]))
                break
            phase(kind, self.jitter(seconds))
        if ended:
            phases.append({"phaseType": "COMPLETED", "startTime": self.t(t)})
        build = {
            "id": build_id, "arn": arn, "buildNumber": self.build_number,
            "startTime": self.t(requested),
        }
        if ended:
            build["endTime"] = self.t(t)
        build.update({
            "currentPhase": "COMPLETED" if ended else "BUILD",
            "buildStatus": status, "sourceVersion": source_version,
            "resolvedSourceVersion": commit, "projectName": PROJECT, "phases": phases,
            "source": SOURCE, "secondarySources": [], "secondarySourceVersions": [],
            "artifacts": {"location": ""}, "secondaryArtifacts": [], "cache": {"type": "NO_CACHE"},
            "environment": ENVIRONMENT, "serviceRole": ROLE,
            "logs": {
                "groupName": f"/aws/codebuild/{PROJECT}", "streamName": build_id.split(":")[1],
                "deepLink": f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}#logEvent:group=/aws/codebuild/{PROJECT};stream={build_id.split(':')[1]}",
                "cloudWatchLogsArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/codebuild/{PROJECT}:log-stream:{build_id.split(':')[1]}",
                "cloudWatchLogs": {"status": "ENABLED"},
                "s3Logs": {"status": "DISABLED", "encryptionDisabled": False},
            },
            "timeoutInMinutes": 60, "queuedTimeoutInMinutes": 480, "buildComplete": ended,
            "initiator": self.initiator, "encryptionKey": KMS, "buildBatchArn": batch_arn,
        })
        self.builds.append(build)
        summary = {"arn": arn, "requestedOn": self.t(requested), "buildStatus": status,
                   "primaryArtifact": {"type": "no_artifacts", "identifier": group},
                   "secondaryArtifacts": []}
        return summary, (t if ended else None), status

    def batch(self, start, source_version, commit, attempts, end, delays):
        self.batch_number += 1
        self.initiator = "GitHub-Hookshot/" + "%07x" % self.rng.getrandbits(28)
        batch_id = f"{PROJECT}:{self.uuid()}"
        arn = f"{ARN}build-batch/{batch_id}"
        phases = []
        current = {}  # group -> summary
        prior = {g: [] for g, *_ in self.groups}
        status_of = {}
        t = start
        batch_end = None
        final_status = "IN_PROGRESS"
        for n, failing in enumerate(attempts):
            last = n == len(attempts) - 1
            running = last and end == "running"
            stopped = last and end == "stopped"
            phases.append({"phaseType": "SUBMITTED", "phaseStatus": "SUCCEEDED", "startTime": self.t(t),
                           "endTime": self.t(t + 0.21), "durationInSeconds": 0})
            spec = self.jitter(35.0)
            phases.append({"phaseType": "DOWNLOAD_BATCHSPEC", "phaseStatus": "SUCCEEDED",
                           "startTime": self.t(t + 0.21), "endTime": self.t(t + 0.21 + spec),
                           "durationInSeconds": int(spec)})
            if n == 0:
                self.download_source = self.source_build(arn, source_version, commit, t + 0.8)
            t1 = t + 0.21 + spec
            ends = []
            rerun = [g for g, *_ in self.groups if status_of.get(g, "NONE") != "SUCCEEDED"]
            self.stop_at = t1 + 300.0
            done = {}
            for group in sorted(rerun, key=lambda g: len(DEPENDS[g])):
                requested = t1 + self.rng.uniform(0.1, 0.6)
                dep_end = None
                dep_failed = False
                for d in DEPENDS[group]:
                    if d in done:
                        dep_end = max(dep_end or 0, done[d][0] or 0)
                        dep_failed |= done[d][1] != "SUCCEEDED"
                if running:
                    outcome = "running"
                elif stopped and group in ("integration_tests", "e2e_tests"):
                    outcome = "stopped-by-hand"
                elif dep_failed:
                    outcome = "stopped"
                else:
                    outcome = failing.get(group)
                if outcome == "running":
                    dep_end = None
                summary, ended, status = self.build(arn, group, source_version, commit, requested,
                                                    outcome, waits_until=dep_end)
                done[group] = (ended, status)
                if group in current:
                    prior[group].append(current[group])
                current[group] = summary
                status_of[group] = status
                if ended:
                    ends.append(ended)
            failed = any(s != "SUCCEEDED" for s in status_of.values())
            if running:
                phases.append({"phaseType": "IN_PROGRESS", "startTime": self.t(t1)})
                final_status = "IN_PROGRESS"
                break
            t2 = max(ends) + self.jitter(4.0)
            in_progress = "STOPPED" if stopped else ("FAILED" if failed else "SUCCEEDED")
            phases.append({"phaseType": "IN_PROGRESS", "phaseStatus": in_progress, "startTime": self.t(t1),
                           "endTime": self.t(t2), "durationInSeconds": int(t2 - t1)})
            if last:
                kind = {"STOPPED": "STOPPED", "FAILED": "FAILED", "SUCCEEDED": "SUCCEEDED"}[in_progress]
                phases.append({"phaseType": kind, "startTime": self.t(t2)})
                final_status = kind
                batch_end = t2
                break
            retried = t2 + 60.0 * delays[n] + self.rng.uniform(0, 30)
            phases.append({"phaseType": "FAILED", "phaseStatus": "RETRY", "startTime": self.t(t2),
                           "endTime": self.t(retried), "durationInSeconds": int(retried - t2)})
            t = retried
        groups = [{"identifier": "DOWNLOAD_SOURCE", "ignoreFailure": False,
                   "currentBuildSummary": self.download_source}]
        for g, deps, *_ in self.groups:
            entry = {"identifier": g, "dependsOn": deps, "ignoreFailure": False,
                     "currentBuildSummary": current[g]}
            if prior[g]:
                entry["priorBuildSummaryList"] = prior[g]
            groups.append(entry)
        batch = {"id": batch_id, "arn": arn, "startTime": self.t(start)}
        if batch_end is not None:
            batch["endTime"] = self.t(batch_end)
        batch.update({
            "currentPhase": final_status if batch_end is not None else "IN_PROGRESS",
            "buildBatchStatus": final_status, "sourceVersion": source_version if source_version != "main" else commit,
            "resolvedSourceVersion": commit, "projectName": PROJECT, "phases": phases,
            "source": SOURCE, "secondarySources": [], "secondarySourceVersions": [],
            "artifacts": {"location": ""}, "secondaryArtifacts": [], "cache": {"type": "NO_CACHE"},
            "environment": ENVIRONMENT,
            "logConfig": {"cloudWatchLogs": {"status": "ENABLED"},
                          "s3Logs": {"status": "DISABLED", "encryptionDisabled": False}},
            "buildTimeoutInMinutes": 60, "queuedTimeoutInMinutes": 480,
            "complete": batch_end is not None, "initiator": self.initiator, "encryptionKey": KMS,
            "buildBatchNumber": self.batch_number,
            "buildBatchConfig": {
                "serviceRole": ROLE, "combineArtifacts": False,
                "restrictions": {"maximumBuildsAllowed": 20,
                                 "computeTypesAllowed": ["BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM"]},
                "timeoutInMins": 240, "batchReportMode": "REPORT_AGGREGATED_BATCH",
            },
            "buildGroups": groups,
        })
        self.batches.append(batch)

    def source_build(self, batch_arn, source_version, commit, requested):
        summary, _, _ = self.build(batch_arn, "DOWNLOAD_SOURCE", source_version, commit, requested, None)
        return summary


def commit_sha(rng):
    return "%040x" % rng.getrandbits(160)


def curated(w):
    shas = {}
    for day, hhmm, source, key, attempts, end, delays in CURATED:
        sha = shas.setdefault(key, commit_sha(w.rng))
        hh, mm = map(int, hhmm.split(":"))
        start = (DAY0 + datetime.timedelta(days=day, hours=hh, minutes=mm)).timestamp()
        start += w.rng.uniform(0, 59)
        w.batch(start, source, sha, attempts, end, delays)


def randomised(w, count):
    """`count` batches, about 100 a day, most of them green; failures retried by hand about
    as a team without a gate does (infrastructure and known flakes mostly, test failures
    sometimes). Four build groups (no `lint`)."""
    rng = w.rng
    kinds = [("image-pull", "bundle", 0.05), ("flaky", "integration_tests", 0.07),
             ("exit-1", "e2e_tests", 0.04), ("exit-1", "unit_tests", 0.04),
             ("timeout", "integration_tests", 0.01)]
    start = DAY0.timestamp()
    sha = commit_sha(rng)
    pr = 3000
    for n in range(count):
        start += rng.uniform(300, 1400)
        if rng.random() < 0.6:
            sha = commit_sha(rng)
            pr += 1
        attempts = []
        delays = []
        rerun = set(DEPENDS)
        while True:
            failing = {}
            for kind, group, p in kinds:
                if group in rerun and rng.random() < p * (0.7 if attempts else 1.0):
                    failing[group] = kind
            # A retry reruns what did not succeed: the failed groups and those that depend on them.
            rerun = set(failing) | {g for g in DEPENDS if set(DEPENDS[g]) & set(failing)}
            attempts.append(failing)
            if not failing or len(attempts) >= 4:
                break
            hand = 0.75 if set(failing.values()) & {"image-pull", "flaky"} else 0.35
            if rng.random() > hand:
                break
            delays.append(rng.uniform(3, 40))
        end = "running" if n == count - 1 and len(attempts) > 1 else "done"
        if n == count - 1 and end == "running":
            attempts[-1] = {}
        w.batch(start, f"pr/{pr}", sha, attempts, end, delays)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--random", type=int, metavar="N", help="N random batches instead of the curated history")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--epoch", action="store_true", help="epoch seconds instead of ISO-8601 times")
    parser.add_argument("--indent", type=int, default=4,
                        help="JSON indentation (4, as the AWS CLI prints; 0 for compact JSON, as `jq -c` writes it)")
    args = parser.parse_args()
    groups = None
    if args.random:
        groups = {g for g, *_ in GROUPS} - {"lint"}
    w = Writer(random.Random(args.seed), args.epoch, groups)
    if args.random:
        randomised(w, args.random)
    else:
        curated(w)
    # Newest first, as list-build-batches-for-project lists them.
    w.batches.reverse()
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "batches.json", "w") as f:
        json.dump({"buildBatches": w.batches, "buildBatchesNotFound": []}, f, indent=args.indent or None)
        f.write("\n")
    with open(args.out / "builds.json", "w") as f:
        json.dump({"builds": w.builds, "buildsNotFound": []}, f, indent=args.indent or None)
        f.write("\n")
    print(f"{args.out}: {len(w.batches)} batches, {len(w.builds)} builds")


if __name__ == "__main__":
    main()
