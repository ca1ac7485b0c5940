//! The AWS side: read batches, builds and history from CodeBuild; retry a batch.
//!
//! The client is built from the run's [`Aws`] configuration (the standard chain, one region,
//! timeouts and the SDK's standard retry: throttling, 5xx, transient network errors). Every
//! error names the region it happened in.

use std::fmt;

use aws_sdk_codebuild::Client;
use aws_sdk_codebuild::error::SdkError;
use aws_sdk_codebuild::operation::retry_build_batch::RetryBuildBatchError;
use aws_sdk_codebuild::types::{RetryBuildBatchType, SortOrderType};
use futures_util::{StreamExt, TryStreamExt};
use thiserror::Error;

use crate::aws::{Aws, Region};
use crate::facts::{Batch, Build, sdk};
use crate::policy::RetryType;

mod projects;

pub use projects::ProjectSource;

/// `BatchGetBuildBatches` and `BatchGetBuilds` take at most this many ids.
pub const MAX_IDS_PER_CALL: usize = 100;
/// Chunked reads in flight at once: a long history is read quickly without a burst of
/// concurrent calls that would only be throttled.
pub const MAX_CONCURRENT_READS: usize = 4;

/// A CodeBuild call that failed; names the call and the region, says why and what to do.
#[derive(Debug, Error)]
pub struct AwsError {
    pub call: &'static str,
    pub detail: String,
    /// The service's error code (`__type`), when it answered with one.
    pub code: Option<String>,
    /// The region of the client that made the call.
    pub region: Option<Region>,
}

/// Error codes of credentials CodeBuild did not accept.
const REFUSED_CREDENTIALS: [&str; 6] = [
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
    "InvalidClientTokenId",
    "AccessDeniedException",
    "AccessDenied",
];

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(region) = &self.region else {
            return write!(f, "CodeBuild {} failed: {}", self.call, self.detail);
        };
        write!(
            f,
            "CodeBuild {} failed in {}: {}",
            self.call, region.name, self.detail
        )?;
        let code = self.code.as_deref().unwrap_or_default();
        if code == "ResourceNotFoundException" {
            write!(f, " (not found in {}; {})", region, region.elsewhere_hint())?;
        } else if REFUSED_CREDENTIALS.contains(&code) {
            write!(
                f,
                " (the credentials were refused in {}: check that they are current, for the account that owns the project, and that its role may call CodeBuild there; see docs/setup.md)",
                region
            )?;
        } else if self.detail.starts_with(NO_CREDENTIALS) {
            write!(
                f,
                " (region {}: run aws-actions/configure-aws-credentials before this step, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or AWS_PROFILE)",
                region
            )?;
        }
        Ok(())
    }
}

const NO_CREDENTIALS: &str = "no AWS credentials";

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
        AwsError {
            call,
            detail,
            code,
            region: None,
        }
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
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
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
            "{NO_CREDENTIALS} (the gate uses the standard chain: environment, profile, web identity, container, instance metadata): {text}"
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
    region: Region,
}

impl CodeBuild {
    /// A client for the run's configuration and region.
    pub fn new(aws: &Aws) -> CodeBuild {
        CodeBuild {
            client: Client::new(&aws.config),
            region: aws.region.clone(),
        }
    }

    /// The region this client talks to, and where it came from.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// `err` of `call`, in this client's region.
    fn error<E, R>(&self, call: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: std::error::Error + aws_sdk_codebuild::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        AwsError {
            region: Some(self.region.clone()),
            ..AwsError::from_sdk(call, err)
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
                .map_err(|e| self.error("BatchGetBuildBatches", e))?;
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
                .map_err(|e| self.error("BatchGetBuilds", e))?;
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
            .map_err(|e| self.error("ListBuildBatchesForProject", e))?;
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
        retry_type: RetryType,
    ) -> Result<RetryResult, AwsError> {
        let retry_type = match retry_type {
            RetryType::FailedBuilds => RetryBuildBatchType::RetryFailedBuilds,
            RetryType::AllBuilds => RetryBuildBatchType::RetryAllBuilds,
        };
        let result = self
            .client
            .retry_build_batch()
            .id(id)
            .idempotency_token(token)
            .retry_type(retry_type)
            .send()
            .await;
        match result {
            Ok(out) => match out.build_batch() {
                Some(b) => Ok(RetryResult::Retried(Box::new(sdk::batch(b)))),
                None => Err(AwsError {
                    call: "RetryBuildBatch",
                    detail: "the answer holds no buildBatch".into(),
                    code: None,
                    region: Some(self.region.clone()),
                }),
            },
            Err(e) => {
                // CodeBuild's refusal to retry (not in a retryable state, retries spent) is
                // its typed InvalidInputException; anything else is a failed call.
                let refused = matches!(
                    e.as_service_error(),
                    Some(RetryBuildBatchError::InvalidInputException(_))
                );
                let err = self.error("RetryBuildBatch", e);
                if refused {
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
        // Pinned to values computed outside this code (docs/faults.md, "The idempotency
        // token", gives the derivation and a Python line that recomputes them): a change here
        // would let an old and a new gate retry the same failure twice.
        for (batch, attempt, token) in [
            ("", 1, "retry-gate-cbf29ce484222325-attempt-1"),
            ("proj:1111", 1, "retry-gate-2211be15f5e23860-attempt-1"),
            ("proj:1111", 2, "retry-gate-2211be15f5e23860-attempt-2"),
            (
                "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6",
                1,
                "retry-gate-12221e21e0fcc251-attempt-1",
            ),
            (
                "acme-api:6ae12c97-2399-429d-b61e-6ba536824dd6",
                2,
                "retry-gate-12221e21e0fcc251-attempt-2",
            ),
        ] {
            assert_eq!(
                idempotency_token(batch, attempt),
                token,
                "{batch} {attempt}"
            );
        }
    }
}
