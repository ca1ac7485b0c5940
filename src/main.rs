//! The binary: parse arguments, run, map errors to exit codes. The only place that exits.
#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use codebuild_retry_gate::cli::{Cli, Command};
use codebuild_retry_gate::commands;
use codebuild_retry_gate::error::RunError;

fn gate(
    args: &codebuild_retry_gate::cli::GateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    use commands::gate::{Config, run};
    let config = Config::resolve(args, &|key| std::env::var(key).ok())?;
    let mut log = config.run.log(err);
    block_on(run(config, out, &mut log))
}

fn reconcile(
    args: &codebuild_retry_gate::cli::ReconcileArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    use commands::reconcile::{Config, run};
    let config = Config::resolve(args, &|key| std::env::var(key).ok())?;
    let mut log = config.run.log(err);
    block_on(run(config, out, &mut log))
}

/// Runs a command that calls the network on a single-threaded runtime.
fn block_on(
    command: impl std::future::Future<Output = Result<i32, RunError>>,
) -> Result<i32, RunError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Runtime(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(command);
    // Idle pooled connections need no goodbye: do not wait for them on the way out.
    runtime.shutdown_background();
    result
}

fn simulate(
    args: &codebuild_retry_gate::cli::SimulateArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<i32, RunError> {
    use commands::simulate::{Config, run};
    let config = Config::resolve(args, &|key| std::env::var(key).ok())?;
    let mut log = commands::common::Log {
        err,
        verbose: config.verbose,
        in_actions: config.in_actions,
        started: std::time::Instant::now(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| RunError::Runtime(format!("cannot start the async runtime: {e}")))?;
    let result = runtime.block_on(run(config, out, &mut log));
    runtime.shutdown_background();
    result
}

/// Running under GitHub Actions: errors also become workflow-command annotations.
fn in_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").as_deref() == Ok("true")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let result = match &cli.command {
        Command::Explain(args) => commands::explain::run(args, &mut out),
        Command::Validate(args) => commands::validate::command(
            &args.files,
            &|key| std::env::var(key).ok(),
            &mut out,
            &mut err,
        ),
        Command::Gate(args) => gate(args, &mut out, &mut err),
        Command::Reconcile(args) => reconcile(args, &mut out, &mut err),
        Command::Simulate(args) => simulate(args, &mut out, &mut err),
        Command::Schema => out
            .write_all(commands::schema::render().as_bytes())
            .map(|()| 0)
            .map_err(|e| RunError::Runtime(e.to_string())),
    };
    let code = match result {
        Ok(code) => code,
        Err(e) => {
            match &e {
                // Diagnostics carry their own `file:line:col: error[code]:` prefix.
                RunError::Policy(policy) => {
                    let _ = writeln!(err, "{e}");
                    if in_actions() {
                        for d in &policy.diagnostics {
                            let _ =
                                writeln!(out, "{}", codebuild_retry_gate::actions::annotation(d));
                        }
                    }
                }
                _ if in_actions() => {
                    let message = e.to_string();
                    let _ = writeln!(
                        out,
                        "{}",
                        codebuild_retry_gate::actions::command("error", &[], &message)
                    );
                }
                _ => {
                    let _ = writeln!(err, "error: {e}");
                }
            }
            e.exit_code()
        }
    };
    let _ = out.flush();
    ExitCode::from(u8::try_from(code).unwrap_or(3))
}
