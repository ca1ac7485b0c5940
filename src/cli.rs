//! Command-line interface: every subcommand and flag, with environment fallbacks.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::facts::Timestamp;

#[derive(Debug, Parser)]
#[command(
    name = "codebuild-retry-gate",
    version,
    about = "A policy-checking CI gate for AWS CodeBuild batch builds",
    long_about = "A policy-checking CI gate for AWS CodeBuild batch builds.\n\n\
        When a batch build fails, the gate judges its failed build groups against a YAML policy \
        and either retries the batch (bounded by per-batch and per-commit budgets) or refuses, \
        saying exactly why.",
    after_help = "Exit codes: 0 decided and reported; 1 refused with --fail-on-refusal; \
        2 usage, policy or input error; 3 runtime failure (AWS or GitHub)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide offline from JSON captured with the AWS CLI (no network)
    #[command(
        long_about = "Decide offline from JSON captured with the AWS CLI; nothing is called.\n\n\
        BATCH is the output of `aws codebuild batch-get-build-batches --ids ID` (or one buildBatch \
        object), or a directory like examples/batches/NAME holding it as batch.json, with \
        builds.json and history.json when present. Timestamps may be ISO-8601 (as the CLI prints \
        them) or epoch seconds."
    )]
    Explain(ExplainArgs),
    /// Check policy files and report every problem with file:line:column
    #[command(
        long_about = "Check policy files and report every problem with file:line:column (and, \
        under GitHub Actions, as `::error` annotations on those lines).\n\n\
        Without FILE: the files of the Action input `policy` (INPUT_POLICY, one per line), else \
        .github/codebuild-retry-gate.yml; when that default file does not exist, the gate uses \
        the built-in default policy, and there is nothing to check (exit 0, with a notice). \
        Files are read from the working directory, never through `policy-ref`."
    )]
    Validate(ValidateArgs),
    /// Print the JSON Schema of the policy file
    Schema,
    /// Fetch a batch from CodeBuild, decide, retry or refuse, and report to GitHub
    #[command(
        long_about = "Fetch a batch from CodeBuild, decide, then call RetryBuildBatch or \
        post a commit status that says why not.\n\n\
        Every flag falls back to the Action input (INPUT_<NAME>, e.g. INPUT_BATCH-ID), then to the \
        standard variable named in its help. AWS configuration comes from the standard AWS chain \
        (AWS_REGION, AWS_ENDPOINT_URL_CODEBUILD, credentials, ...); GitHub's API from GITHUB_API_URL."
    )]
    Gate(GateArgs),
    /// Settle gate statuses left missing or pending: judge, as `gate` would, each batch of a
    /// project that ended in the last hours
    #[command(
        long_about = "Settle the gate statuses that lost events left missing or pending.\n\n\
        For every batch of --project that ended in the last --hours hours, read the gate's latest \
        commit status on the batch's commit; when it is missing, or `pending` although the batch \
        has ended, judge the batch exactly as `gate` would, then retry it or post the final \
        status. Batches still running, statuses already final (success, failure, error), batches \
        whose commit is unknown and older batches are left alone.\n\n\
        Exit 0 when every batch was handled (refusals included), 3 when a call failed (the other \
        batches are still handled and reported). Every flag falls back to the Action input \
        (INPUT_<NAME>), then to the standard variable named in its help."
    )]
    Reconcile(ReconcileArgs),
    /// Replay a policy over a project's batch history: what the gate would have done at every
    /// failed attempt, and what happened next (read-only)
    #[command(
        long_about = "Replay a policy over a project's batch history: every failed attempt of every \
        batch judged as the gate would have judged it when that attempt ended, beside what really \
        happened next (retried then succeeded or failed, still running, not retried).\n\n\
        Live (--project): reads the project's batches from CodeBuild with the standard AWS chain \
        (AWS_REGION, AWS_ENDPOINT_URL_CODEBUILD, credentials, ...); read-only, it never calls \
        RetryBuildBatch and posts nothing. Offline (--batches): from AWS CLI captures. Every flag \
        falls back to the Action input (INPUT_<NAME>). Under Actions the markdown report also goes \
        to GITHUB_STEP_SUMMARY."
    )]
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Format {
    #[default]
    /// For people
    Text,
    /// A versioned report object
    Json,
    /// The job summary's markdown (what the gate writes to GITHUB_STEP_SUMMARY)
    Markdown,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// `aws codebuild batch-get-build-batches` output for the batch to judge, or a directory
    /// holding it as batch.json (with builds.json and history.json, when present, read too)
    #[arg(value_name = "BATCH")]
    pub batch: PathBuf,
    /// `aws codebuild batch-get-builds` output with the builds' phase details (repeatable)
    #[arg(long, value_name = "FILE")]
    pub builds: Vec<PathBuf>,
    /// More batches of the project, for the per-commit budget (repeatable)
    #[arg(long, value_name = "FILE")]
    pub history: Vec<PathBuf>,
    /// `aws codebuild batch-get-reports` output: the builds' test reports, for `tests`
    /// conditions (repeatable)
    #[arg(long, value_name = "FILE")]
    pub reports: Vec<PathBuf>,
    /// `aws codebuild describe-test-cases` output: test cases with their `reportArn`, for
    /// `tests` conditions (repeatable)
    #[arg(long = "test-cases", value_name = "FILE")]
    pub test_cases: Vec<PathBuf>,
    /// Captured build logs for rules with `log`: one file per build, named PROJECT:UUID or
    /// UUID, `.log` (plain text), `.json` (`aws logs get-log-events` output) or `.gz` (the S3
    /// log object) [default: the BATCH directory's logs/]
    #[arg(long, value_name = "DIR")]
    pub logs: Option<PathBuf>,
    /// Policy file [default: the built-in default policy]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// GitHub's facts about commits, for rules with `branches` or `pull-request-bases`:
    /// `{"commits": {SHA: {"branches": [...], "pulls": [...]}}}`, each list as GitHub's
    /// endpoint returns it (without it such rules cannot be judged)
    #[arg(long, value_name = "FILE")]
    pub github: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when the decision is `refuse`
    #[arg(long)]
    pub fail_on_refusal: bool,
    /// The moment of judgment, ISO-8601 or epoch seconds: the daily budget and the outage
    /// brake count what happened in their window before it [default: the latest moment
    /// recorded in the captures]
    #[arg(long, value_name = "TIME", value_parser = parse_moment)]
    pub now: Option<Timestamp>,
}

/// `--now`: ISO-8601 (`2026-11-21T08:30:00Z`, with an offset or fractions) or epoch seconds.
fn parse_moment(text: &str) -> Result<Timestamp, String> {
    crate::facts::awscli::parse_iso8601(text.trim()).ok_or_else(|| {
        format!("`{text}` is neither an ISO-8601 time (2026-11-21T08:30:00Z) nor epoch seconds")
    })
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy files to check; `-` reads one from stdin [input: policy, one file per line;
    /// default: .github/codebuild-retry-gate.yml]
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output format: text (problems on stderr) or json (one report on stdout, for editors
    /// and bots)
    #[arg(long, value_enum, default_value_t = ValidateFormat::Text)]
    pub format: ValidateFormat,
    /// Warnings (rules that may never match, a fixed context, no rules) fail too: exit 2
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ValidateFormat {
    #[default]
    /// `FILE: ok` on stdout, problems on stderr
    Text,
    /// One JSON report on stdout: every file with its errors and warnings
    Json,
}

#[derive(Debug, Args, Default)]
pub struct GateArgs {
    /// The batch: PROJECT:UUID or a build-batch ARN [input: batch-id; else the `status`
    /// event's target_url; else the newest batch of --project for the commit]
    #[arg(long, value_name = "ID")]
    pub batch_id: Option<String>,
    /// CodeBuild project, to find the commit's newest batch when no batch id is given
    /// [input: project]
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Commit to report on; it must be the commit the batch built [input: sha; in a `status`
    /// event its `sha`; else the batch's resolvedSourceVersion]
    #[arg(long, value_name = "SHA")]
    pub sha: Option<String>,
    /// Exit 1 when the decision is `refuse` [input: fail-on-refusal]
    #[arg(long)]
    pub fail_on_refusal: bool,
    #[command(flatten)]
    pub run: RunArgs,
}

/// The flags that `gate` and `reconcile` share (resolved by `commands::inputs`).
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Policy file [input: policy; default: .github/codebuild-retry-gate.yml if it exists,
    /// else the built-in default policy]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Read the policy from this git ref of the repository through the GitHub contents API
    /// instead of the workspace, so a pull request cannot loosen its own policy;
    /// `default-branch` for the repository's default branch [input: policy-ref]
    #[arg(long, value_name = "REF")]
    pub policy_ref: Option<String>,
    /// OWNER/REPO for the commit statuses [input: repository; env: GITHUB_REPOSITORY; else the
    /// batch's GitHub source]
    #[arg(long, value_name = "OWNER/REPO")]
    pub repository: Option<String>,
    /// GitHub token; never printed. Prefer the GITHUB_TOKEN variable (or input github-token):
    /// a token given here shows in the process list, which other jobs on a shared runner can
    /// read
    #[arg(long, value_name = "TOKEN")]
    pub github_token: Option<crate::github::Token>,
    /// Decide and report, but neither call RetryBuildBatch nor post a commit status
    /// [input: dry-run]
    #[arg(long)]
    pub dry_run: bool,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Seconds to wait for each attempt of an AWS or GitHub call (1-120) [input: timeout]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=120))]
    pub timeout: Option<u64>,
    /// Say what the gate does, step by step, on stderr [env: RUNNER_DEBUG=1]
    #[arg(long, short)]
    pub verbose: bool,
}

#[derive(Debug, Args, Default)]
pub struct ReconcileArgs {
    /// CodeBuild project whose batches are settled [input: project]
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Settle the batches that ended in this many hours before now (1-168) [input: hours;
    /// default: 6]
    #[arg(long, value_name = "HOURS", value_parser = clap::value_parser!(u64).range(1..=168))]
    pub hours: Option<u64>,
    /// Only this pull request: judge whether the project's webhook will build it, and post
    /// `success` "Not built" if it certainly will not; batches are not settled [input:
    /// pull-request]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pull_request: Option<u64>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args, Default)]
pub struct SimulateArgs {
    /// CodeBuild project whose history is read from CodeBuild [input: project]; with
    /// --batches, only that project's batches are replayed
    #[arg(long, value_name = "NAME")]
    pub project: Option<String>,
    /// Replay the batches that started in the last DAYS days (1-365) [input: days; default 30;
    /// offline: counted back from the newest batch in the files, and every batch without it]
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=365))]
    pub days: Option<u32>,
    /// Offline: `aws codebuild batch-get-build-batches` output holding the batches, or a
    /// directory of such .json files (builds, test reports and test cases found there are
    /// taken as --builds, --reports and --test-cases; its `logs/` as --logs) (repeatable)
    #[arg(long, value_name = "FILE|DIR")]
    pub batches: Vec<PathBuf>,
    /// Offline: `aws codebuild batch-get-builds` output with their builds, or a directory of
    /// such .json files (repeatable)
    #[arg(long, value_name = "FILE|DIR", requires = "batches")]
    pub builds: Vec<PathBuf>,
    /// Offline: GitHub's facts about the commits, for rules with `branches` or
    /// `pull-request-bases` (the file `explain --github` takes); live, they are read from
    /// GitHub per commit when a rule needs them
    #[arg(long, value_name = "FILE", requires = "batches")]
    pub github: Option<PathBuf>,
    /// Offline: `aws codebuild batch-get-reports` output, the builds' test reports, for
    /// `tests` conditions (repeatable); live, they are read from CodeBuild as it replays
    #[arg(long, value_name = "FILE", requires = "batches")]
    pub reports: Vec<PathBuf>,
    /// Offline: `aws codebuild describe-test-cases` output, test cases with their
    /// `reportArn` (repeatable)
    #[arg(long = "test-cases", value_name = "FILE", requires = "batches")]
    pub test_cases: Vec<PathBuf>,
    /// Offline: captured build logs for rules with `log` (as `explain --logs`: one file per
    /// build, PROJECT:UUID or UUID, `.log`, `.json` or `.gz`)
    #[arg(long, value_name = "DIR", requires = "batches")]
    pub logs: Option<PathBuf>,
    /// Policy file [input: policy; default: the built-in default policy, as for `explain`]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Read the policy from this git ref of the repository through the GitHub contents API;
    /// `default-branch` for the repository's default branch [input: policy-ref]
    #[arg(long, value_name = "REF")]
    pub policy_ref: Option<String>,
    /// Also replay this (older) policy file over the same history and report, first, every
    /// failed attempt the two decide differently: the review of a policy change [input:
    /// compare]
    #[arg(long, value_name = "OLD.yml")]
    pub compare: Option<PathBuf>,
    /// OWNER/REPO to read the policy from with --policy-ref, and GitHub's facts about commits
    /// [input: repository; env: GITHUB_REPOSITORY; else the batches' source location]
    #[arg(long, value_name = "OWNER/REPO")]
    pub repository: Option<String>,
    /// GitHub token, to read the policy with --policy-ref and, live, GitHub's facts about
    /// commits for rules with `branches` or `pull-request-bases`; never printed. Prefer the
    /// GITHUB_TOKEN variable (or input github-token): a token given here shows in the process
    /// list, which other jobs on a shared runner can read
    #[arg(long, value_name = "TOKEN")]
    pub github_token: Option<crate::github::Token>,
    /// Output format on stdout
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Seconds to wait for each attempt of an AWS or GitHub call (1-120) [input: timeout]
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=120))]
    pub timeout: Option<u64>,
    /// Say what it does, step by step, on stderr [env: RUNNER_DEBUG=1]
    #[arg(long, short)]
    pub verbose: bool,
}
