//! A project's batch history, read from CodeBuild: listing pages, batches read in chunks with
//! bounded concurrency, bounded by a look-back (while the listing is evidently newest first)
//! and a page cap.
//!
//! `gate` reads it for the budgets (per commit, and any time-windowed one); `reconcile` and
//! `simulate` read a project's recent batches the same way. Batches already read are never
//! read again.

use std::collections::BTreeMap;

use crate::codebuild::{AwsError, CodeBuild, ListPage};
use crate::facts::{Batch, BuildSummary, Group, Phase, Status, Timestamp};

/// Listing pages read at most (100 ids a page): a project with 5,000 batches in the
/// look-back is walked whole; beyond that the walk stops and says that its counts may be
/// incomplete.
pub const MAX_LIST_PAGES: usize = 60;

/// Batches by id.
pub type Known = BTreeMap<String, Batch>;

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// The listing ended, or a listing that was newest first all along reached back past
    /// the look-back boundary: every batch since then was read.
    Complete,
    /// The page cap was reached with more pages left, before the walk could tell that
    /// everything since the boundary was read: counts drawn from it may be too low.
    Truncated,
}

/// Reads listing pages (starting with `first`) and their batches into `known` until the
/// listing ends, the page cap ([`MAX_LIST_PAGES`]) is reached, or — only while the listing
/// is evidently newest first — a page reaches back past `since`.
///
/// CodeBuild documents `sortOrder: DESCENDING` as "descending order by identifier", not by
/// time (`ListBuildBatchesForProject`, service model `codebuild-2016-10-06`). The walk trusts
/// no order it cannot see: it stops at the boundary only while start times never increased
/// along the walk; otherwise it reads on, within the page cap. A walk cut by the cap is
/// [`WalkEnd::Truncated`].
pub async fn walk(
    codebuild: &CodeBuild,
    project: &str,
    first: ListPage,
    known: &mut Known,
    since: Option<Timestamp>,
) -> Result<WalkEnd, AwsError> {
    Walk::new(first)
        .back_to(codebuild, project, known, since)
        .await
}

/// How far a read has come, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Listing pages read, and batches known so far.
    Batches { pages: usize, batches: usize },
    /// Builds read so far, of how many.
    Builds { read: usize, of: usize },
}

/// [`walk`] with its page cap, telling `progress` after each page.
pub async fn walk_with(
    codebuild: &CodeBuild,
    project: &str,
    first: ListPage,
    known: &mut Known,
    since: Option<Timestamp>,
    max_pages: usize,
    progress: &mut dyn FnMut(Progress),
) -> Result<WalkEnd, AwsError> {
    let mut walk = Walk::new(first);
    walk.max_pages = max_pages;
    walk.back_to_with(codebuild, project, known, since, progress)
        .await
}

/// A walk of a project's listing that can later go further back.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The last page read (its batches are known).
    page: ListPage,
    /// Pages read so far.
    pages: usize,
    /// Pages read at most, in all.
    max_pages: usize,
    /// How far the listing was seen to be newest first.
    order: Order,
}

/// What the walk has seen of the listing's order: start times along the listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Order {
    /// The start time of the last batch (with one) seen along the walk.
    last: Option<Timestamp>,
    /// A start time was later than the one before it: the listing is not newest first.
    broken: bool,
    /// Ids of the current page already checked (a page is checked once).
    checked: usize,
}

impl Order {
    /// Checks the ids of `page` not checked yet, in listing order.
    fn check(&mut self, page: &ListPage, known: &Known) {
        for id in page.ids.iter().skip(self.checked) {
            let Some(start) = known.get(id).and_then(|b| b.start_time) else {
                continue;
            };
            if self.last.is_some_and(|last| start > last) {
                self.broken = true;
            }
            self.last = Some(start);
        }
        self.checked = page.ids.len();
    }
}

impl Walk {
    /// A walk whose first page is `first`, of at most [`MAX_LIST_PAGES`] pages.
    pub fn new(first: ListPage) -> Walk {
        Walk {
            page: first,
            pages: 1,
            max_pages: MAX_LIST_PAGES,
            order: Order::default(),
        }
    }

    /// Whether the listing read so far is newest first (start times never increase along it):
    /// only then may a walk stop at a look-back boundary.
    pub fn is_newest_first(&self) -> bool {
        !self.order.broken
    }

    /// Reads the batches of the current page, then further pages and theirs, into `known`,
    /// until the listing ends, the page cap is reached, or (while the listing is evidently
    /// newest first) a page reaches back past `since`. Stays at the last page read, so that a later call with an earlier `since` goes on
    /// from there without listing anything twice.
    pub async fn back_to(
        &mut self,
        codebuild: &CodeBuild,
        project: &str,
        known: &mut Known,
        since: Option<Timestamp>,
    ) -> Result<WalkEnd, AwsError> {
        self.back_to_with(codebuild, project, known, since, &mut |_| {})
            .await
    }

    /// [`Walk::back_to`], telling `progress` after each page.
    pub async fn back_to_with(
        &mut self,
        codebuild: &CodeBuild,
        project: &str,
        known: &mut Known,
        since: Option<Timestamp>,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<WalkEnd, AwsError> {
        loop {
            read_missing(codebuild, &self.page.ids, known).await?;
            progress(Progress::Batches {
                pages: self.pages,
                batches: known.len(),
            });
            self.order.check(&self.page, known);
            let oldest = self
                .page
                .ids
                .iter()
                .filter_map(|id| known.get(id)?.start_time)
                .min();
            let past = matches!((oldest, since), (Some(o), Some(s)) if o < s);
            if past && self.is_newest_first() {
                return Ok(WalkEnd::Complete);
            }
            let Some(next) = self.page.next.clone() else {
                return Ok(WalkEnd::Complete);
            };
            if self.pages >= self.max_pages {
                return Ok(WalkEnd::Truncated);
            }
            self.page = codebuild.list_page(project, Some(next)).await?;
            self.pages += 1;
            self.order.checked = 0;
        }
    }
}

/// Listing pages a project's history read (`simulate`) walks at most: 30,000 batches.
pub const MAX_HISTORY_PAGES: usize = 300;

/// The project's batches that started at or after `since` (and those of the last listing
/// page that reaches past it), newest first from the listing: the history `simulate`
/// replays, with the look-back its budgets need before it.
pub async fn read_project(
    codebuild: &CodeBuild,
    project: &str,
    since: Timestamp,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Known, WalkEnd), AwsError> {
    let mut known = Known::new();
    let first = codebuild.list_page(project, None).await?;
    let end = walk_with(
        codebuild,
        project,
        first,
        &mut known,
        Some(since),
        MAX_HISTORY_PAGES,
        progress,
    )
    .await?;
    Ok((known, end))
}

/// Builds by id, read in chunks of 100 with bounded concurrency (see [`CodeBuild::builds`]),
/// telling `progress` as they arrive.
pub async fn read_builds(
    codebuild: &CodeBuild,
    ids: &[String],
    progress: &mut dyn FnMut(Progress),
) -> Result<std::collections::BTreeMap<String, crate::facts::Build>, AwsError> {
    use crate::codebuild::{MAX_CONCURRENT_READS, MAX_IDS_PER_CALL};
    let mut out = std::collections::BTreeMap::new();
    progress(Progress::Builds {
        read: 0,
        of: ids.len(),
    });
    // As many ids at a time as the reads in flight take, so the display moves without
    // holding back the concurrency.
    for group in ids.chunks(MAX_IDS_PER_CALL * MAX_CONCURRENT_READS) {
        for build in codebuild.builds(group).await? {
            out.insert(build.id.clone(), build);
        }
        progress(Progress::Builds {
            read: out.len(),
            of: ids.len(),
        });
    }
    Ok(out)
}

/// Reads the batches of `ids` that are not in `known` yet.
pub async fn read_missing(
    codebuild: &CodeBuild,
    ids: &[String],
    known: &mut Known,
) -> Result<(), AwsError> {
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !known.contains_key(*id))
        .cloned()
        .collect();
    for batch in codebuild.batches(&missing).await? {
        known.insert(batch.id.clone(), batch);
    }
    Ok(())
}

/// The project's batches that started since `since`, and those listed with them: listing
/// pages (newest first) and their batches read until a page reaches back past `since`, the
/// listing ends, or [`MAX_LIST_PAGES`] pages were read. Also returns the walk, to go further
/// back from where it stopped (e.g. for the budgets' look-back).
pub async fn recent(
    codebuild: &CodeBuild,
    project: &str,
    since: Timestamp,
) -> Result<(Known, Walk, WalkEnd), AwsError> {
    let first = codebuild.list_page(project, None).await?;
    let mut walk = Walk::new(first);
    let mut known = Known::new();
    let end = walk
        .back_to(codebuild, project, &mut known, Some(since))
        .await?;
    Ok((known, walk, end))
}

/// When `batch` ended, or `None` while it runs: a batch has ended when CodeBuild says it is
/// `complete` and its status is not IN_PROGRESS (or `PENDING`). The time is its `endTime`,
/// else the latest time among its phases, else its start.
pub fn ended_at(batch: &Batch) -> Option<Timestamp> {
    let ended = batch.complete && batch.status.as_ref().is_some_and(|s| !s.is_unfinished());
    if !ended {
        return None;
    }
    let phases = batch
        .phases
        .iter()
        .filter_map(|p| p.end_time.or(p.start_time))
        .max();
    batch.end_time.or(phases).or(batch.start_time)
}

/// The newest batch of `project` that built `sha` (its resolved commit, or a `sourceVersion`
/// equal to it), with the first listing page. Every batch read on the way lands in `known`.
pub async fn find_for_commit(
    codebuild: &CodeBuild,
    project: &str,
    sha: &str,
    known: &mut Known,
) -> Result<Option<(String, ListPage)>, AwsError> {
    let mut next = None;
    let mut first = None;
    for _ in 0..MAX_LIST_PAGES {
        let page = codebuild.list_page(project, next.take()).await?;
        read_missing(codebuild, &page.ids, known).await?;
        let found = page.ids.iter().find(|id| {
            known.get(*id).is_some_and(|b| {
                b.commit() == Some(sha) || b.source_version.as_deref() == Some(sha)
            })
        });
        if let Some(id) = found {
            let id = id.clone();
            return Ok(Some((id, first.unwrap_or(page))));
        }
        next = page.next.clone();
        first.get_or_insert(page);
        if next.is_none() {
            break;
        }
    }
    Ok(None)
}

pub use crate::facts::is_retry_marker;

/// One attempt of a batch: its first run, or a run that a retry started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// 1-based.
    pub number: u32,
    /// When it started: the batch's start, or the moment the retry that started it was made.
    pub started: Option<Timestamp>,
    /// When it ended: the start of the `FAILED`/`RETRY` phase that closed it, or the batch's
    /// end for the last attempt. `None` while it runs (or when CodeBuild recorded no time).
    pub ended: Option<Timestamp>,
    /// When the retry that followed it was made (its marker's end, else its start); `None`
    /// for the last attempt.
    pub retried_at: Option<Timestamp>,
    /// How it ended: for an attempt that a retry followed, read from its batch phases
    /// ([`earlier_attempt_status`]); for the last one, the batch's status.
    pub status: Option<Status>,
    /// Index of its `FAILED`/`RETRY` phase in the batch's phases (`None` for the last).
    marker: Option<usize>,
}

impl Attempt {
    /// Ended in a failure CodeBuild has finished with: a retry followed it, or it is the
    /// last attempt of a complete batch whose status is a failure (or one the gate does not
    /// know, which the gate refuses).
    pub fn failed(&self, batch: &Batch) -> bool {
        if self.marker.is_some() {
            return true;
        }
        batch.complete
            && self
                .status
                .as_ref()
                .is_some_and(|s| s.is_failure() || s.is_unknown())
    }
}

/// A phase's moment on the time line: its end, else its start.
fn phase_time(phase: &Phase) -> Option<Timestamp> {
    phase.end_time.or(phase.start_time)
}

/// The status of an attempt that a retry followed, from its batch phases: a `STOPPED`
/// phase, or the last phase status that is not SUCCEEDED (`TIMED_OUT`, `FAULT`, `STOPPED`
/// are kept; anything else, e.g. `FAILED` or `CLIENT_ERROR`, reads as FAILED). CodeBuild
/// keeps no batch status per attempt; this is the closest record of it.
pub fn earlier_attempt_status(phases: &[Phase]) -> Status {
    if phases.iter().any(|p| p.phase_type == "STOPPED") {
        return Status::Stopped;
    }
    match phases
        .iter()
        .rev()
        .filter_map(|p| p.status.as_ref())
        .find(|s| **s != Status::Succeeded)
    {
        Some(s @ (Status::TimedOut | Status::Fault | Status::Stopped)) => s.clone(),
        _ => Status::Failed,
    }
}

/// The attempts of a batch, in order: each `FAILED`/`RETRY` batch phase closes one.
pub fn attempts(batch: &Batch) -> Vec<Attempt> {
    let markers: Vec<usize> = batch
        .phases
        .iter()
        .enumerate()
        .filter(|(_, p)| is_retry_marker(p))
        .map(|(i, _)| i)
        .collect();
    let mut out = Vec::with_capacity(markers.len() + 1);
    let mut first_phase = 0;
    let mut started = batch.start_time;
    for (n, &m) in markers.iter().enumerate() {
        let marker = &batch.phases[m];
        let own = &batch.phases[first_phase..m];
        let ended = marker
            .start_time
            .or_else(|| own.last().and_then(|p| p.end_time))
            .or(marker.end_time);
        let retried_at = phase_time(marker);
        out.push(Attempt {
            number: n as u32 + 1,
            started,
            ended,
            retried_at,
            status: Some(earlier_attempt_status(own)),
            marker: Some(m),
        });
        started = retried_at;
        first_phase = m + 1;
    }
    let unfinished = !batch.complete || batch.status.as_ref().is_none_or(|s| s.is_unfinished());
    out.push(Attempt {
        number: markers.len() as u32 + 1,
        started,
        ended: if unfinished {
            None
        } else {
            batch
                .end_time
                .or_else(|| batch.phases.iter().rev().find_map(phase_time))
        },
        retried_at: None,
        status: batch.status.clone(),
        marker: None,
    });
    out
}

/// The moment of each build summary of a group, in request order: its `requestedOn`, else
/// that of the summary before it (else `fallback`), so that a summary without a time stays
/// in the attempt of the one before it.
fn summary_times(
    group: &Group,
    fallback: Option<Timestamp>,
) -> impl Iterator<Item = (&BuildSummary, Option<Timestamp>)> {
    let mut last = fallback;
    group.prior.iter().chain(&group.current).map(move |s| {
        last = s.requested_on.or(last);
        (s, last)
    })
}

/// The groups as they stood when only the builds for which `keep` holds had been
/// requested: each group's current build is the last of them, the earlier ones its prior.
fn groups_with(
    batch: &Batch,
    keep: impl Fn(Option<Timestamp>) -> bool,
    running_since: Option<Timestamp>,
) -> Vec<Group> {
    batch
        .groups
        .iter()
        .map(|g| {
            let mut builds: Vec<BuildSummary> = summary_times(g, batch.start_time)
                .filter(|(_, t)| keep(*t))
                .map(|(s, t)| {
                    let mut s = s.clone();
                    // A build of an attempt still running at that moment had not ended.
                    if let (Some(since), Some(t)) = (running_since, t)
                        && t >= since
                    {
                        s.status = Some(Status::InProgress);
                    }
                    s
                })
                .collect();
            let current = builds.pop();
            Group {
                identifier: g.identifier.clone(),
                depends_on: g.depends_on.clone(),
                ignore_failure: g.ignore_failure,
                current,
                prior: builds,
            }
        })
        .collect()
}

/// The batch as it stood when attempt `number` (1-based) ended: its batch phases up to the
/// `FAILED` phase that ended that attempt (still open then: no status, no end, so it is not
/// a retry yet), its status the attempt's, ended and complete, and each group's builds
/// those requested before the retry that followed (the current one is the one that ran in
/// that attempt, or the earlier one a group kept). The last attempt is the batch itself.
/// `None` when the batch has no such attempt.
pub fn at_attempt(batch: &Batch, number: u32) -> Option<Batch> {
    let all = attempts(batch);
    let attempt = all.get(usize::try_from(number).ok()?.checked_sub(1)?)?;
    let Some(m) = attempt.marker else {
        return Some(batch.clone());
    };
    let mut phases = batch.phases[..=m].to_vec();
    if let Some(open) = phases.last_mut() {
        open.status = None;
        open.end_time = None;
        open.contexts.clear();
    }
    let before = attempt.retried_at;
    Some(Batch {
        id: batch.id.clone(),
        arn: batch.arn.clone(),
        project: batch.project.clone(),
        status: attempt.status.clone(),
        complete: true,
        source_version: batch.source_version.clone(),
        resolved_source_version: batch.resolved_source_version.clone(),
        source_location: batch.source_location.clone(),
        start_time: batch.start_time,
        end_time: attempt.ended,
        phases,
        groups: groups_with(
            batch,
            |t| match (t, before) {
                (Some(t), Some(b)) => t < b,
                _ => true,
            },
            None,
        ),
    })
}

/// The batch as it stood at `t`, as CodeBuild would have listed it then; `None` if it had
/// not started. Its batch phases are those that had started by `t` (a phase still open
/// then has no status, end or contexts, so a retry made after `t` is not there); its builds
/// those requested by `t`. If the attempt running at `t` had not ended, the batch reads
/// `IN_PROGRESS`, not complete, without an end time, and that attempt's builds read
/// `IN_PROGRESS`; otherwise it reads as that attempt ended. A batch without a start time
/// is taken as started.
pub fn as_of(batch: &Batch, t: Timestamp) -> Option<Batch> {
    if batch.start_time.is_some_and(|s| s > t) {
        return None;
    }
    let all = attempts(batch);
    // Retries made by `t`: the leading markers whose moment is not after it.
    let made = all
        .iter()
        .take_while(|a| {
            a.marker
                .is_some_and(|m| phase_time(&batch.phases[m]).is_none_or(|at| at <= t))
        })
        .count();
    let attempt = &all[made];
    let ended = attempt.ended.is_some_and(|e| e <= t);
    let upto = attempt.marker.map_or(batch.phases.len(), |m| m + 1);
    let phases = batch.phases[..upto]
        .iter()
        .filter(|p| p.start_time.is_none_or(|s| s <= t))
        .map(|p| {
            let mut p = p.clone();
            if p.end_time.is_some_and(|e| e > t) {
                p.status = None;
                p.end_time = None;
                p.contexts.clear();
            }
            p
        })
        .collect();
    let running_since = (!ended).then(|| attempt.started.unwrap_or(Timestamp(i64::MIN)));
    Some(Batch {
        id: batch.id.clone(),
        arn: batch.arn.clone(),
        project: batch.project.clone(),
        status: if ended {
            attempt.status.clone()
        } else {
            Some(Status::InProgress)
        },
        complete: ended,
        source_version: batch.source_version.clone(),
        resolved_source_version: batch.resolved_source_version.clone(),
        source_location: batch.source_location.clone(),
        start_time: batch.start_time,
        end_time: if ended { attempt.ended } else { None },
        phases,
        groups: groups_with(batch, |at| at.is_none_or(|at| at <= t), running_since),
    })
}

/// The build summaries requested during `attempt` of `batch` (the builds it ran), by the
/// same reading of `requestedOn` as [`at_attempt`].
pub fn requested_in<'a>(batch: &'a Batch, attempt: &Attempt) -> Vec<&'a BuildSummary> {
    batch
        .groups
        .iter()
        .flat_map(|g| summary_times(g, batch.start_time))
        .filter(|(_, t)| match t {
            Some(t) => {
                (attempt.number == 1 || attempt.started.is_none_or(|s| *t >= s))
                    && attempt.retried_at.is_none_or(|r| *t < r)
            }
            // No time anywhere: only the first attempt can claim it.
            None => attempt.number == 1,
        })
        .map(|(s, _)| s)
        .collect()
}

/// Every moment at which [`as_of`] of this batch changes, ascending and without repeats:
/// between two of them (and before the first, after the last) it is the same batch.
pub fn moments(batch: &Batch) -> Vec<Timestamp> {
    let mut out: Vec<Timestamp> = batch.start_time.into_iter().collect();
    out.extend(batch.end_time);
    for p in &batch.phases {
        out.extend(p.start_time);
        out.extend(p.end_time);
    }
    for g in &batch.groups {
        out.extend(summary_times(g, batch.start_time).filter_map(|(_, t)| t));
    }
    for a in attempts(batch) {
        out.extend(a.ended);
        out.extend(a.retried_at);
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::awscli::{batches_from_json, parse_iso8601};

    fn retried_twice() -> Batch {
        let text = include_str!("../examples/batches/retried-twice/batch.json");
        batches_from_json(text).unwrap().remove(0)
    }

    fn at(text: &str) -> Timestamp {
        parse_iso8601(&format!("2026-11-21T{text}+00:00")).unwrap()
    }

    fn current(batch: &Batch, group: &str) -> String {
        let g = batch.groups.iter().find(|g| g.identifier == group).unwrap();
        let arn = g.current.as_ref().unwrap().arn.as_deref().unwrap();
        arn.rsplit(':')
            .next()
            .unwrap()
            .chars()
            .take(8)
            .collect::<String>()
    }

    #[test]
    fn a_batch_retried_twice_has_three_attempts() {
        let a = attempts(&retried_twice());
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].started, Some(at("08:15:40.771")));
        assert_eq!(a[0].ended, Some(at("08:22:25.988")));
        assert_eq!(a[0].retried_at, Some(at("08:23:13.429")));
        assert_eq!(a[0].status, Some(Status::Failed));
        // Its IN_PROGRESS phase ended CLIENT_ERROR: a failure, read as FAILED.
        assert_eq!(a[1].started, Some(at("08:23:13.429")));
        assert_eq!(a[1].ended, Some(at("08:24:12.159")));
        assert_eq!(a[1].status, Some(Status::Failed));
        assert_eq!(a[2].started, Some(at("08:27:49.306")));
        assert_eq!(a[2].ended, Some(at("08:28:28.804")));
        assert_eq!(a[2].retried_at, None);
        let b = retried_twice();
        assert!(a.iter().all(|a| a.failed(&b)));
    }

    #[test]
    fn at_attempt_is_the_batch_as_that_attempt_ended() {
        let b = retried_twice();
        let second = at_attempt(&b, 2).unwrap();
        assert_eq!(second.retries_recorded(), 1);
        assert_eq!(second.status, Some(Status::Failed));
        assert!(second.complete);
        assert_eq!(second.end_time, Some(at("08:24:12.159")));
        let last = second.phases.last().unwrap();
        assert_eq!(
            (last.phase_type.as_str(), &last.status, last.end_time),
            ("FAILED", &None, None),
            "the FAILED phase is still open: no retry yet"
        );
        assert_eq!(second.current_attempt_phases().len(), 4);
        // linux_x86 ran again in attempt 2; linux_arm kept its build of attempt 1.
        assert_eq!(current(&second, "linux_x86"), "42a67cd2");
        assert_eq!(
            second.groups.iter().map(|g| g.prior.len()).max(),
            Some(1),
            "one earlier build"
        );
        assert_eq!(current(&second, "linux_arm"), "9bc84625");
        let first = at_attempt(&b, 1).unwrap();
        assert_eq!(first.retries_recorded(), 0);
        assert_eq!(current(&first, "linux_x86"), "b788c2b1");
        assert_eq!(at_attempt(&b, 3).unwrap(), b);
        assert_eq!(at_attempt(&b, 4), None);
        assert_eq!(at_attempt(&b, 0), None);
    }

    #[test]
    fn as_of_shows_the_batch_as_it_was_listed_then() {
        let b = retried_twice();
        assert_eq!(as_of(&b, at("08:15:40.770")), None, "not started yet");

        let running = as_of(&b, at("08:20:00.000")).unwrap();
        assert_eq!(running.status, Some(Status::InProgress));
        assert!(!running.complete);
        assert_eq!(running.end_time, None);
        assert_eq!(running.retries_recorded(), 0);
        assert_eq!(running.phases.len(), 3);
        assert_eq!(running.phases[2].status, None, "IN_PROGRESS still open");
        assert_eq!(
            running.groups[1].status(),
            Some(&Status::InProgress),
            "a build of the running attempt"
        );

        // Attempt 2 ended, its retry not made yet.
        let failed = as_of(&b, at("08:25:00.000")).unwrap();
        assert_eq!(failed.status, Some(Status::Failed));
        assert!(failed.complete);
        assert_eq!(failed.end_time, Some(at("08:24:12.159")));
        assert_eq!(
            failed.retries_recorded(),
            1,
            "the second marker is still open"
        );

        let retried = as_of(&b, at("08:27:49.306")).unwrap();
        assert_eq!(retried.retries_recorded(), 2);
        assert_eq!(retried.status, Some(Status::InProgress));

        assert_eq!(as_of(&b, at("09:00:00.000")).unwrap(), b, "after its end");
    }

    #[test]
    fn the_builds_each_attempt_ran() {
        let b = retried_twice();
        let a = attempts(&b);
        let ids = |n: usize| -> Vec<String> {
            requested_in(&b, &a[n])
                .iter()
                .map(|s| {
                    s.arn
                        .as_deref()
                        .unwrap()
                        .rsplit(':')
                        .next()
                        .unwrap()
                        .chars()
                        .take(8)
                        .collect::<String>()
                })
                .collect()
        };
        // The source, linux_x86's first build and linux_arm's only one; then a new
        // linux_x86 build in each retry.
        assert_eq!(ids(0), ["7afa1571", "b788c2b1", "9bc84625"]);
        assert_eq!(ids(1), ["42a67cd2"]);
        assert_eq!(ids(2), ["72e831df"]);
    }

    #[test]
    fn an_earlier_attempt_reads_its_status_from_its_phases() {
        let phase = |kind: &str, status: Option<&str>| Phase {
            phase_type: kind.into(),
            status: status.map(Status::parse),
            ..Phase::default()
        };
        let ok = phase("SUBMITTED", Some("SUCCEEDED"));
        assert_eq!(
            earlier_attempt_status(&[ok.clone(), phase("IN_PROGRESS", Some("CLIENT_ERROR"))]),
            Status::Failed
        );
        assert_eq!(
            earlier_attempt_status(&[ok.clone(), phase("IN_PROGRESS", Some("TIMED_OUT"))]),
            Status::TimedOut
        );
        assert_eq!(
            earlier_attempt_status(&[ok.clone(), phase("IN_PROGRESS", Some("FAULT"))]),
            Status::Fault
        );
        assert_eq!(
            earlier_attempt_status(&[ok.clone(), phase("STOPPED", None)]),
            Status::Stopped
        );
        assert_eq!(earlier_attempt_status(&[ok]), Status::Failed);
    }

    #[test]
    fn as_of_changes_only_at_the_batchs_moments() {
        let b = retried_twice();
        let m = moments(&b);
        assert!(m.windows(2).all(|w| w[0] < w[1]));
        for w in m.windows(2) {
            let mid = Timestamp(w[0].0 + (w[1].0 - w[0].0) / 2);
            assert_eq!(as_of(&b, w[0]), as_of(&b, mid), "between {w:?}");
        }
        let last = *m.last().unwrap();
        assert_eq!(as_of(&b, last), as_of(&b, Timestamp(last.0 + 86_400_000)));
    }
}
