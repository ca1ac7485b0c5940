//! The AWS side: read batches, builds and history from CodeBuild; retry a batch.
//!
//! Configuration comes only from the standard AWS chain (credentials, region,
//! `AWS_ENDPOINT_URL_CODEBUILD` / `AWS_ENDPOINT_URL`, `AWS_MAX_ATTEMPTS`, …). Every call has
//! a connect timeout and a per-attempt and overall timeout, and the SDK's standard retry
//! (throttling, 5xx, transient network errors).

use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::error::SdkError;
use aws_sdk_codebuild::types::{RetryBuildBatchType, SortOrderType};
use futures_util::{StreamExt, TryStreamExt};
use thiserror::Error;

use crate::facts::{Batch, Build, sdk};

mod projects;

pub use projects::ProjectSource;

/// `BatchGetBuildBatches` and `BatchGetBuilds` take at most this many ids.
pub const MAX_IDS_PER_CALL: usize = 100;
/// Chunked reads in flight at once: a long history is read quickly without a burst of
/// concurrent calls that would only be throttled.
pub const MAX_CONCURRENT_READS: usize = 4;

/// A CodeBuild call that failed; names the call, says why.
#[derive(Debug, Error)]
#[error("CodeBuild {call} failed: {detail}")]
pub struct AwsError {
    pub call: &'static str,
    pub detail: String,
    /// The service's error code (`__type`), when it answered with one.
    pub code: Option<String>,
}

impl AwsError {
    pub(crate) fn from_sdk<E, R>(call: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: std::error::Error + aws_sdk_codebuild::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        let code = err
            .as_service_error()
            .and_then(|e| e.code())
            .map(str::to_string);
        let detail = match &err {
            SdkError::ServiceError(e) => {
                let e = e.err();
                format!(
                    "{}: {}",
                    e.code().unwrap_or("error"),
                    e.message().unwrap_or("(no message)")
                )
            }
            SdkError::TimeoutError(_) => {
                "no answer in time (each attempt is bounded by --timeout, all of them by four times that)".to_string()
            }
            other => error_chain(other),
        };
        AwsError { call, detail, code }
    }

    /// The service said the thing does not exist or the input is invalid.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("ResourceNotFoundException" | "InvalidInputException")
        )
    }
}

/// An error and its sources, each said once, without the debug dumps some of them carry.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let mut text = parts.join(": ");
    if text.contains("no credentials found") || text.contains("credential provider") {
        text = format!(
            "no AWS credentials (the gate uses the standard chain: environment, profile, web identity, container, instance metadata): {text}"
        );
    }
    crate::text::clean(&text.replace('\n', "; "), 1000)
}

/// One page of `ListBuildBatchesForProject`.
#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub ids: Vec<String>,
    pub next: Option<String>,
}

/// What `RetryBuildBatch` did.
#[derive(Debug)]
pub enum RetryResult {
    /// The batch was retried (or this token's earlier retry was replayed).
    Retried(Box<Batch>),
    /// CodeBuild refused: the batch is not (or no longer) in a retryable state.
    NotRetryable(String),
}

#[derive(Clone)]
pub struct CodeBuild {
    client: Client,
}

impl CodeBuild {
    /// A client from the standard AWS configuration chain. `timeout` bounds each attempt of
    /// a call; a call with its retries is bounded by four times that.
    pub async fn from_env(timeout: Duration) -> CodeBuild {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .read_timeout(timeout)
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout * 4)
            .build();
        let config = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(4))
            .load()
            .await;
        CodeBuild {
            client: Client::new(&config),
        }
    }

    /// The SDK client, for the other rooms of the AWS side (test reports).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Batches by id, in chunks of 100, at most [`MAX_CONCURRENT_READS`] at once. Ids
    /// CodeBuild does not know are left out.
    pub async fn batches(&self, ids: &[String]) -> Result<Vec<Batch>, AwsError> {
        chunked(ids, |chunk| async move {
            let page = self
                .client
                .batch_get_build_batches()
                .set_ids(Some(chunk))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("BatchGetBuildBatches", e))?;
            Ok(page.build_batches().iter().map(sdk::batch).collect())
        })
        .await
    }

    /// Builds by id, in chunks of 100, at most [`MAX_CONCURRENT_READS`] at once.
    pub async fn builds(&self, ids: &[String]) -> Result<Vec<Build>, AwsError> {
        chunked(ids, |chunk| async move {
            let page = self
                .client
                .batch_get_builds()
                .set_ids(Some(chunk))
                .send()
                .await
                .map_err(|e| AwsError::from_sdk("BatchGetBuilds", e))?;
            Ok(page.builds().iter().map(sdk::build).collect())
        })
        .await
    }

    /// One page of the project's batch ids, newest first.
    pub async fn list_page(
        &self,
        project: &str,
        next: Option<String>,
    ) -> Result<ListPage, AwsError> {
        let out = self
            .client
            .list_build_batches_for_project()
            .project_name(project)
            .sort_order(SortOrderType::Descending)
            .max_results(100)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("ListBuildBatchesForProject", e))?;
        Ok(ListPage {
            ids: out.ids().to_vec(),
            next: out
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string),
        })
    }

    /// `RetryBuildBatch` with an idempotency token.
    pub async fn retry(
        &self,
        id: &str,
        token: &str,
        retry_type: &str,
    ) -> Result<RetryResult, AwsError> {
        let result = self
            .client
            .retry_build_batch()
            .id(id)
            .idempotency_token(token)
            .retry_type(RetryBuildBatchType::from(retry_type))
            .send()
            .await;
        match result {
            Ok(out) => match out.build_batch() {
                Some(b) => Ok(RetryResult::Retried(Box::new(sdk::batch(b)))),
                None => Err(AwsError {
                    call: "RetryBuildBatch",
                    detail: "the answer holds no buildBatch".into(),
                    code: None,
                }),
            },
            Err(e) => {
                let err = AwsError::from_sdk("RetryBuildBatch", e);
                if err.code.as_deref() == Some("InvalidInputException") {
                    Ok(RetryResult::NotRetryable(err.detail))
                } else {
                    Err(err)
                }
            }
        }
    }
}

/// `call` on each chunk of at most [`MAX_IDS_PER_CALL`] ids, [`MAX_CONCURRENT_READS`] at a
/// time, results in the order of the ids.
async fn chunked<T, F, Fut>(ids: &[String], call: F) -> Result<Vec<T>, AwsError>
where
    F: Fn(Vec<String>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, AwsError>>,
{
    let pages: Vec<Vec<T>> = futures_util::stream::iter(ids.chunks(MAX_IDS_PER_CALL))
        .map(|chunk| call(chunk.to_vec()))
        .buffered(MAX_CONCURRENT_READS)
        .try_collect()
        .await?;
    Ok(pages.into_iter().flatten().collect())
}

/// The token sent with `RetryBuildBatch`: the same batch and attempt number give the same
/// token in any process, so two gates racing on one failure cause one retry.
pub fn idempotency_token(batch_id: &str, attempt: u32) -> String {
    // FNV-1a, 64 bits: stable across processes, platforms and Rust versions.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in batch_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("retry-gate-{hash:016x}-attempt-{attempt}")
}

#[cfg(test)]
mod tests {
    use super::idempotency_token;

    #[test]
    fn token_is_stable_and_depends_on_batch_and_attempt() {
        let a = idempotency_token("proj:1111", 1);
        assert_eq!(a, idempotency_token("proj:1111", 1));
        assert_ne!(a, idempotency_token("proj:1111", 2));
        assert_ne!(a, idempotency_token("proj:2222", 1));
        // Pinned: a change here would let an old and a new gate retry the same failure twice.
        assert_eq!(
            idempotency_token("", 1),
            "retry-gate-cbf29ce484222325-attempt-1"
        );
    }
}
