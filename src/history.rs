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
    let mut page = first;
    let mut pages = 1;
    loop {
        read_missing(codebuild, &page.ids, known).await?;
        let oldest = page
            .ids
            .iter()
            .filter_map(|id| known.get(id)?.start_time)
            .min();
        if matches!((oldest, since), (Some(o), Some(s)) if o < s) {
            return Ok(WalkEnd::Complete);
        }
        let Some(next) = page.next.take() else {
            return Ok(WalkEnd::Complete);
        };
        if pages >= MAX_LIST_PAGES {
            return Ok(WalkEnd::Truncated);
        }
        page = codebuild.list_page(project, Some(next)).await?;
        pages += 1;
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
