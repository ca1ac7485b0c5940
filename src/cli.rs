//! Command-line interface: every subcommand and flag, with environment fallbacks.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
        object). Timestamps may be ISO-8601 (as the CLI prints them) or epoch seconds."
    )]
    Explain(ExplainArgs),
    /// Check policy files and report every problem with file:line:column
    Validate(ValidateArgs),
    /// Print the JSON Schema of the policy file
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people
    Text,
    /// A versioned report object
    Json,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// `aws codebuild batch-get-build-batches` output for the batch to judge
    #[arg(value_name = "BATCH")]
    pub batch: PathBuf,
    /// `aws codebuild batch-get-builds` output with the builds' phase details (repeatable)
    #[arg(long, value_name = "FILE")]
    pub builds: Vec<PathBuf>,
    /// More batches of the project, for the per-commit budget (repeatable)
    #[arg(long, value_name = "FILE")]
    pub history: Vec<PathBuf>,
    /// Policy file [default: the built-in default policy]
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Output format
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Exit 1 when the decision is `refuse`
    #[arg(long)]
    pub fail_on_refusal: bool,
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Policy files to check
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}
