//! `reconcile`: settle the gate statuses that lost events left missing or pending.
//!
//! For every commit of the project with a batch that ended in the last `--hours`, the
//! commit's latest batch ([`crate::latest`]: the one whose latest attempt runs, or else
//! ended last) speaks: read the gate's latest status on the commit (the project's context).
//! When it is missing, `pending` although the batch has ended, or final but posted before
//! the batch's latest attempt ended (stale: about an older batch or attempt), judge the
//! batch exactly as `gate` does ([`live::facts`], [`decide`], [`live::retry`]) at the wall
//! clock's moment and post the status `gate` would post. Batches are settled oldest end
//! first, and a retry this run makes is recorded in the history it judges the later
//! batches with ([`live::as_retried`]), so it counts toward their budgets. Left alone:
//! batches still running, final statuses posted after the batch ended, batches whose commit
//! cannot be established, batches that are not their commit's latest, and batches that
//! ended before the window.
//!
//! Read-mostly and bounded: one listing walk back to [`LONGEST_BATCH_HOURS`] before the
//! window (at most [`history::MAX_LIST_PAGES`] pages, batches read in chunks), GitHub reads
//! only for ended batches, one per commit, [`MAX_CONCURRENT_STATUS_READS`] at once. Safe
//! while gates run: a retry carries the token of the batch and attempt, and a "not
//! retryable" answer re-reads the batch, as in `gate`.
//!
//! Exit 0 when every batch was handled (refusals included); 3 when a call failed: the other
//! batches are still handled, and every failure is reported.

use std::collections::BTreeSet;
use std::io::Write;

use futures_util::StreamExt;

mod plan;
mod pulls;

use crate::actions;
use crate::cli::{Format, ReconcileArgs};
use crate::codebuild::{CodeBuild, ListPage};
use crate::commands::common::{self, Log};
use crate::commands::inputs::{self, Env, Inputs};
use crate::commands::report::{self, Commit};
use crate::decide::{decide, github_needs};
use crate::decision::Outcome;
use crate::error::{RunError, exit};
use crate::facts::{Batch, Timestamp};
use crate::github::{GitHub, Repo, SeenStatus};
use crate::history::{self, Known, WalkEnd};
use crate::live::{self, aws, github_facts};
use crate::policy::Policy;
use crate::render::reconcile as out_report;
use out_report::{Did, Judged, Report, Row};
use plan::{Plan, Seen, Step, found_of, needs_history, row, steps, triage};

/// `--hours` when not given.
pub const DEFAULT_HOURS: u64 = 6;
/// How long before the window the listing still looks for batches that may have ended in
/// it (the listing is by start time). A build runs at most 36 h (`timeoutInMinutes` is at
/// most 2160) after queueing at most 8 h (`queuedTimeoutInMinutes` at most 480); a batch's
/// own `timeoutInMins` has no documented maximum. A batch that started earlier than this
/// before the window (e.g. retried by hand days after it first ran: a retry keeps the
/// batch's startTime) is not reached.
pub const LONGEST_BATCH_HOURS: u64 = 48;
/// GitHub status reads in flight at once.
pub const MAX_CONCURRENT_STATUS_READS: usize = 4;

pub(crate) const HOUR_MS: i64 = 60 * 60 * 1000;

/// Everything `reconcile` needs from its flags and environment, resolved once.
#[derive(Debug)]
pub struct Config {
    /// What `reconcile` shares with `gate`.
    pub run: Inputs,
    pub project: String,
    pub hours: u64,
    /// `--pull-request N`: only step 2, for that pull request.
    pub pull_request: Option<u64>,
}

impl Config {
    /// Flags first, then Action inputs (`INPUT_*`), then the standard variables.
    pub fn resolve(args: &ReconcileArgs, env: Env<'_>) -> Result<Config, RunError> {
        let project = args
            .project
            .clone()
            .or_else(|| actions::input(env, "project"))
            .ok_or_else(|| {
                RunError::Input(
                    "reconcile needs the project whose batches it settles: give --project (input project)"
                        .into(),
                )
            })?;
        Ok(Config {
            run: Inputs::resolve(&args.run, env)?,
            project,
            hours: inputs::number(env, "hours", args.hours, 1..=168, DEFAULT_HOURS, "hours")?,
            pull_request: match args.pull_request {
                Some(n) => Some(n),
                None => actions::input(env, "pull-request")
                    .map(|_| {
                        inputs::number(
                            env,
                            "pull-request",
                            None,
                            1..=u64::from(u32::MAX),
                            1,
                            "(a pull request number)",
                        )
                    })
                    .transpose()?,
            },
        })
    }
}

/// What a judgment needs, shared by every batch of a run.
struct Judge<'a> {
    run: &'a Inputs,
    codebuild: &'a CodeBuild,
    /// Build logs, read only for `log` conditions (as by `gate`).
    logs: &'a crate::live::logs::LogReader,
    github: &'a GitHub,
    policy: &'a Policy,
    /// The project's batches read, back to the budgets' look-back of the failed batches;
    /// a batch this run retried reads as CodeBuild records the retry (a `FAILED`/`RETRY`
    /// marker, running again), so the batches judged after it count that retry.
    known: Known,
    /// That read was cut by the page cap.
    history_truncated: bool,
}

pub async fn run(config: Config, out: &mut dyn Write, log: &mut Log<'_>) -> Result<i32, RunError> {
    let run = &config.run;
    let project = config.project.as_str();
    let token = run.token.clone().ok_or_else(|| {
        RunError::Runtime(
            "no GitHub token: reconcile reads the gate's commit statuses (also in a dry run); set the `github-token` input or GITHUB_TOKEN"
                .into(),
        )
    })?;
    let github_task = common::spawn_github(run.api_url.clone(), token, run.timeout);
    let source = run.policy_source(None);
    let local_policy = match &run.policy_ref {
        None => Some(common::local_policy(&source, log)?),
        Some(_) => None,
    };
    let aws_config = crate::aws::Aws::load(run.timeout, None).await?;
    let codebuild = CodeBuild::new(&aws_config);
    let logs = crate::live::logs::LogReader::new(&aws_config);
    let github = common::github_client(github_task).await?;

    // The policy, and the project's batches back to the window's start minus the longest
    // a batch runs.
    let window_start = Timestamp(now().0 - hours_ms(config.hours));
    let listed_since = Timestamp(window_start.0 - hours_ms(LONGEST_BATCH_HOURS));
    let (policy, listed) = tokio::join!(
        async {
            match local_policy {
                Some(policy) => Ok(policy),
                None => common::fetch_policy(&source, Some(&github)).await,
            }
        },
        history::recent(&codebuild, project, listed_since)
    );
    let policy = policy?;
    let (mut known, mut walk, end) = listed.map_err(|e| {
        if e.is_bad_input() {
            RunError::Input(e.to_string())
        } else {
            aws(e)
        }
    })?;
    log.debug(&format!(
        "policy: {}; listed {} batch(es) of {project} that started since {}",
        policy.source,
        known.len(),
        out_report::rfc3339(listed_since),
    ));
    let mut report = Report::new(project, config.hours, window_start, run.dry_run);
    report.history_incomplete = end == WalkEnd::Truncated;

    // Which batches to look at, what the gate's statuses say about them, and the history
    // the failed ones' budgets need.
    // With --pull-request, only step 2 runs: no batch is settled (a pull_request-triggered job
    // must not retry anything).
    let (plans, older) = match config.pull_request {
        Some(_) => (Vec::new(), 0),
        None => triage(known.values(), window_start, run.repository.as_deref()),
    };
    report.older = older;
    let context = policy.context_for(project);
    let seen = read_statuses(&github, &context, &plans).await;
    log.debug(&format!(
        "read the gate's status `{context}` on {} commit(s)",
        seen.len()
    ));
    let steps = steps(plans, &seen);
    let since = steps
        .iter()
        .filter_map(|step| match step {
            Step::Judge { batch, .. } if needs_history(batch) => {
                Some(live::history_since(&policy, batch, now()))
            }
            _ => None,
        })
        .min();
    let history = match since {
        None => Ok(WalkEnd::Complete),
        Some(since) => {
            log.debug("reading the project's history for the budgets of the failed batches");
            walk.back_to(&codebuild, project, &mut known, since).await
        }
    };

    // Judge and act, one batch at a time.
    let mut judge = Judge {
        logs: &logs,
        run,
        codebuild: &codebuild,
        github: &github,
        policy: &policy,
        known,
        history_truncated: matches!(history, Ok(WalkEnd::Truncated)),
    };
    for step in steps {
        let row = match step {
            Step::Done(row) => row,
            Step::Judge { batch, seen, .. } if needs_history(&batch) && history.is_err() => Row {
                did: Did::Failed,
                note: history
                    .as_ref()
                    .err()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                seen_state: seen.as_ref().map(|s| s.state.clone()),
                ..row(&batch, found_of(seen.as_ref(), &batch), "")
            },
            Step::Judge {
                batch,
                repo,
                commit,
                seen,
            } => judge.settle(&batch, &repo, &commit, seen.as_ref()).await,
        };
        log_row(log, &row);
        report.batches.push(row);
    }
    // Step 2: open pull requests CodeBuild will not build.
    let built: BTreeSet<String> = judge
        .known
        .values()
        .filter_map(|b| b.commit())
        .map(str::to_ascii_lowercase)
        .collect();
    let step = pulls::Step {
        github: &github,
        codebuild: &codebuild,
        project,
        repo: run.repository.as_deref().and_then(Repo::parse),
        context: &context,
        built: &built,
        listed_since,
        only: config.pull_request,
        dry_run: run.dry_run,
        target_url: run.run_url.clone(),
    };
    report.pulls = step.run().await;
    log_pulls(log, &report.pulls);
    report.failed = report
        .batches
        .iter()
        .filter(|r| r.did == Did::Failed)
        .count()
        + report.pulls.failures();
    if let Some(path) = &run.output_file
        && let Err(e) = actions::write_outputs(path, &report.outputs())
    {
        log.warning(&format!(
            "cannot write GITHUB_OUTPUT {}: {e}",
            path.display()
        ));
    }

    report::write_summary(run, &out_report::markdown(&report), log);
    let text = match run.format {
        Format::Text => out_report::text(&report),
        Format::Json => out_report::json(&report),
        Format::Markdown => out_report::markdown(&report),
    };
    let _ = out.write_all(text.as_bytes());
    if report.failed > 0 {
        let pulls = report.pulls.failures();
        let batches = report.failed - pulls;
        let mut parts = Vec::new();
        if batches > 0 {
            parts.push(format!(
                "{batches} of {} batch(es) could not be settled (each is listed with its error); the others were",
                report.batches.len()
            ));
        }
        if pulls > 0 {
            parts.push(format!(
                "{pulls} read(s) for the pull requests CodeBuild will not build failed (listed with the error)"
            ));
        }
        return Err(RunError::Runtime(parts.join("; ")));
    }
    Ok(exit::OK)
}

/// The gate's latest status on each commit to check, [`MAX_CONCURRENT_STATUS_READS`] reads
/// at once, one per commit.
async fn read_statuses(github: &GitHub, context: &str, plans: &[Plan]) -> Seen {
    let targets: BTreeSet<(Repo, String)> = plans
        .iter()
        .filter_map(|p| match p {
            Plan::Check { repo, commit, .. } => Some((repo.clone(), commit.sha.clone())),
            Plan::Leave(_) => None,
        })
        .collect();
    futures_util::stream::iter(targets)
        .map(|(repo, sha)| async move {
            let read = github.latest_status(&repo, &sha, context).await;
            ((repo, sha), read)
        })
        .buffer_unordered(MAX_CONCURRENT_STATUS_READS)
        .collect()
        .await
}

/// What a batch's row says, in the log: a failure as a warning, what was done as a notice.
fn log_row(log: &mut Log<'_>, row: &Row) {
    let id = crate::text::clean(&row.batch_id, 200);
    match row.did {
        Did::Failed => log.warning(&format!(
            "batch {id}: {}",
            crate::text::clean(&row.note, 1000)
        )),
        Did::LeftAlone => log.debug(&format!("batch {id}: left alone ({})", row.found.as_str())),
        did => log.notice(&format!(
            "batch {id}: {}{}: {}",
            did.as_str(),
            match (did, row.posted_state.as_deref()) {
                (Did::Posted | Did::WouldPost, Some(state)) => format!(" {state}"),
                _ => String::new(),
            },
            crate::text::clean(&row.note, 300)
        )),
    }
}

/// What step 2 did, in the log: a posted "not built" as a notice, a failure as a warning.
fn log_pulls(log: &mut Log<'_>, pulls: &out_report::Pulls) {
    if let Some(note) = &pulls.note {
        let line = format!("pull requests: {}", crate::text::clean(note, 500));
        if pulls.failed {
            log.warning(&line);
        } else {
            log.debug(&line);
        }
    }
    for r in &pulls.rows {
        let line = format!(
            "pull request #{}: {}: {}",
            r.number,
            r.did.as_str(),
            crate::text::clean(&r.note, 300)
        );
        match r.did {
            out_report::PullDid::Failed => log.warning(&line),
            out_report::PullDid::LeftAlone => log.debug(&line),
            _ => log.notice(&line),
        }
    }
}

impl Judge<'_> {
    /// Judges a batch whose gate status is missing, pending or stale, then acts as `gate`
    /// would, at the wall clock's moment.
    async fn settle(
        &mut self,
        batch: &Batch,
        repo: &Repo,
        commit: &Commit,
        seen: Option<&SeenStatus>,
    ) -> Row {
        let mut row = Row {
            seen_state: seen.map(|s| s.state.clone()),
            did: Did::Failed,
            ..row(batch, found_of(seen, batch), "")
        };
        // The history is known already (no listing page left to read). GitHub's facts about
        // the commit, when a rule selects by them, are read at the same time, as by `gate`.
        let github = github_facts::Source {
            github: Ok(self.github),
            repo: Ok(repo),
            commit: batch.commit(),
            event_branches: None,
        };
        let (facts, github) = tokio::join!(
            live::facts(
                self.codebuild,
                self.logs,
                self.policy,
                batch.clone(),
                Ok(ListPage::default()),
                self.known.clone(),
                now(),
            ),
            github_facts::read(github_needs(self.policy, batch), github)
        );
        let mut facts = match facts {
            Ok(facts) => facts,
            Err(e) => {
                row.note = e.to_string();
                return row;
            }
        };
        facts.github = github;
        facts.history_truncated |= self.history_truncated;
        let mut decision = decide(self.policy, &facts);
        let mut retried = false;
        if decision.decision == Outcome::Retry && self.run.dry_run {
            // What a real run would have retried counts for the batches after it, too.
            let again = live::as_retried(&facts.batch, now());
            self.known.insert(again.id.clone(), again);
        }
        if decision.decision == Outcome::Retry && !self.run.dry_run {
            match live::retry(self.codebuild, &mut decision, &facts.batch).await {
                Ok(live::Retried::Yes) => {
                    retried = true;
                    let again = live::as_retried(&facts.batch, now());
                    self.known.insert(again.id.clone(), again);
                }
                Ok(live::Retried::No) => {}
                Err(e) => {
                    row.decision = Some(Judged::of(&decision));
                    row.note = e.to_string();
                    return row;
                }
            }
        }
        row.decision = Some(Judged::of(&decision));
        row.note = decision.reason.clone();
        let target_url = report::target_url(self.run, &facts.batch);
        let Some(status) = report::status(&decision, commit, target_url) else {
            row.did = Did::LeftAlone;
            row.note = report::no_success_on_unverified(batch);
            return row;
        };
        if !retried && plan::already_says(seen, &status, &facts.batch) {
            row.did = Did::Unchanged;
            return row;
        }
        row.posted_state = Some(status.state.as_str().to_string());
        if self.run.dry_run {
            row.did = match decision.decision {
                Outcome::Retry => Did::WouldRetry,
                _ => Did::WouldPost,
            };
            return row;
        }
        match self.github.post_status(repo, &commit.sha, &status).await {
            Ok(()) => row.did = if retried { Did::Retried } else { Did::Posted },
            Err(e) => {
                row.posted_state = None;
                row.note = report::status_not_posted(&decision, retried, e);
            }
        }
        row
    }
}

fn hours_ms(hours: u64) -> i64 {
    i64::try_from(hours).unwrap_or(i64::MAX / HOUR_MS) * HOUR_MS
}

/// Now, from the system clock: the moment of judgment.
fn now() -> Timestamp {
    live::clock()
}
