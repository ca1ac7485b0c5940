//! The AWS side of "pull requests CodeBuild will not build": a project's webhook and source,
//! from `BatchGetProjects` (IAM action `codebuild:BatchGetProjects`). Only `reconcile` reads
//! these.

use super::{AwsError, CodeBuild};
use crate::webhook::{Filter, Webhook};

/// What `reconcile` needs to know about a project.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectSource {
    /// `source.type` (`GITHUB`, `GITHUB_ENTERPRISE`, …).
    pub source_type: Option<String>,
    /// `source.location` (the repository's URL).
    pub location: Option<String>,
    /// `webhook`, when the project has one.
    pub webhook: Option<Webhook>,
}

impl CodeBuild {
    /// The project's source and webhook; `Ok(None)` when CodeBuild does not know the project.
    pub async fn project_source(&self, name: &str) -> Result<Option<ProjectSource>, AwsError> {
        let out = self
            .client
            .batch_get_projects()
            .names(name)
            .send()
            .await
            .map_err(|e| AwsError::from_sdk("BatchGetProjects", e))?;
        let Some(project) = out.projects().iter().find(|p| p.name() == Some(name)) else {
            return Ok(None);
        };
        let source = project.source();
        Ok(Some(ProjectSource {
            source_type: source.map(|s| s.r#type().as_str().to_string()),
            location: source.and_then(|s| s.location()).map(str::to_string),
            webhook: project.webhook().map(|w| Webhook {
                build_type: w.build_type().map(|t| t.as_str().to_string()),
                filter_groups: w
                    .filter_groups()
                    .iter()
                    .map(|group| {
                        group
                            .iter()
                            .map(|f| Filter {
                                kind: f.r#type().as_str().to_string(),
                                pattern: f.pattern().to_string(),
                                exclude: f.exclude_matched_pattern().unwrap_or(false),
                            })
                            .collect()
                    })
                    .collect(),
                branch_filter: w.branch_filter().map(str::to_string),
                requires_comment_approval: w
                    .pull_request_build_policy()
                    .map(|p| p.requires_comment_approval().as_str().to_string()),
                scoped: w.scope_configuration().is_some(),
                status: w.status().map(|s| s.as_str().to_string()),
            }),
        }))
    }
}
