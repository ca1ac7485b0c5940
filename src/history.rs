//! A project's batch history, read from CodeBuild: listing pages newest first, batches read
//! in chunks with bounded concurrency, bounded by a look-back and a page cap.
//!
//! `gate` reads it for the budgets (per commit, and any time-windowed one); `reconcile` and
//! `simulate` read a project's recent batches the same way. Batches already read are never
//! read again.

use std::collections::BTreeMap;

use crate::codebuild::{AwsError, CodeBuild, ListPage};
use crate::facts::{Batch, Timestamp};

/// Listing pages read at most (100 ids a page): a project with 5,000 batches in the
/// look-back is walked whole; beyond that the walk stops and says that its counts may be
/// incomplete.
pub const MAX_LIST_PAGES: usize = 60;

/// Batches by id.
pub type Known = BTreeMap<String, Batch>;

/// How a walk ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WalkEnd {
    /// The listing ended, or a page reached back past the look-back boundary.
    Complete,
    /// The page cap was reached with more pages left: counts may be too low.
    Truncated,
}

/// Reads listing pages (newest first, starting with `first`) and their batches into
/// `known` until a page reaches back past `since`, the listing ends, or
/// [`MAX_LIST_PAGES`] pages were read.
///
/// CodeBuild documents the listing's order only as "by identifier"; in practice it lists
/// newest first, and the walk relies on that to stop at the look-back boundary. What it
/// cannot rely on, it reports: a walk cut by the page cap is [`WalkEnd::Truncated`].
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

/// A walk of a project's listing, newest first, that can later go further back.
#[derive(Debug, Clone)]
pub struct Walk {
    /// The last page read (its batches are known).
    page: ListPage,
    /// Pages read so far.
    pages: usize,
}

impl Walk {
    /// A walk whose first page is `first`.
    pub fn new(first: ListPage) -> Walk {
        Walk {
            page: first,
            pages: 1,
        }
    }

    /// Reads the batches of the current page, then further pages and theirs, into `known`,
    /// until a page reaches back past `since`, the listing ends, or [`MAX_LIST_PAGES`] pages
    /// were read in all. Stays at the last page read, so that a later call with an earlier
    /// `since` goes on from there without listing anything twice.
    pub async fn back_to(
        &mut self,
        codebuild: &CodeBuild,
        project: &str,
        known: &mut Known,
        since: Option<Timestamp>,
    ) -> Result<WalkEnd, AwsError> {
        loop {
            read_missing(codebuild, &self.page.ids, known).await?;
            let oldest = self
                .page
                .ids
                .iter()
                .filter_map(|id| known.get(id)?.start_time)
                .min();
            if matches!((oldest, since), (Some(o), Some(s)) if o < s) {
                return Ok(WalkEnd::Complete);
            }
            let Some(next) = self.page.next.clone() else {
                return Ok(WalkEnd::Complete);
            };
            if self.pages >= MAX_LIST_PAGES {
                return Ok(WalkEnd::Truncated);
            }
            self.page = codebuild.list_page(project, Some(next)).await?;
            self.pages += 1;
        }
    }
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
