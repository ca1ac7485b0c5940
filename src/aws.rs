//! The AWS configuration every AWS client of a run is built from (CodeBuild, and the
//! CloudWatch Logs client beside it): the standard chain — credentials, endpoints
//! (`AWS_ENDPOINT_URL_CODEBUILD`, `AWS_ENDPOINT_URL`, …), `AWS_MAX_ATTEMPTS` — with a
//! connect, per-attempt and overall timeout, the SDK's standard retry, and one region.
//!
//! The region (SPEC "Inputs of gate"): the one the batch names — its ARN, or the CodeBuild
//! console link in a `status` event — else the chain's (`AWS_REGION`, which
//! `aws-actions/configure-aws-credentials` sets from its `aws-region`). So one workflow
//! serves projects in several regions. No region at all is a configuration mistake (exit 2).

use std::fmt;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::SdkConfig;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;

use crate::error::RunError;

/// What to set when no region is known, in every message that needs it.
pub const SET_REGION: &str = "set AWS_REGION (or the Action's aws-region)";

/// Where the region of a run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionFrom {
    /// The batch was given as an ARN, which names its region.
    BatchArn,
    /// The CodeBuild console link (`target_url`) of the `status` event.
    ConsoleLink,
    /// The standard chain: `AWS_REGION` (or `AWS_DEFAULT_REGION`, a profile).
    Environment,
}

/// The region a run talks to AWS in, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub from: RegionFrom,
}

impl Region {
    pub fn named(name: &str, from: RegionFrom) -> Region {
        Region {
            name: name.to_string(),
            from,
        }
    }

    /// What to do when something is not found in this region.
    pub fn elsewhere_hint(&self) -> String {
        match self.from {
            RegionFrom::Environment => format!(
                "if it is in another region, {SET_REGION} to that region, or give the batch as its ARN"
            ),
            RegionFrom::BatchArn | RegionFrom::ConsoleLink => format!(
                "the region comes from {}; check that it names the right batch and that the credentials are for the account that owns it",
                self.from.describe()
            ),
        }
    }
}

impl RegionFrom {
    pub fn describe(self) -> &'static str {
        match self {
            RegionFrom::BatchArn => "the batch ARN",
            RegionFrom::ConsoleLink => "the status event's CodeBuild link",
            RegionFrom::Environment => "AWS_REGION",
        }
    }
}

impl fmt::Display for Region {
    /// `eu-west-1 (from the batch ARN)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (from {})", self.name, self.from.describe())
    }
}

/// Whether `text` has the shape of an AWS region name (`us-east-1`, `us-gov-west-1`,
/// `cn-north-1`, `ap-southeast-4`, `eusc-de-east-1`): lower-case words and a number. Region
/// text from an ARN or a link is checked with this before it reaches an endpoint.
pub fn is_region_name(text: &str) -> bool {
    let mut parts: Vec<&str> = text.split('-').collect();
    let Some(number) = parts.pop() else {
        return false;
    };
    text.len() <= 32
        && parts.len() >= 2
        && (1..=2).contains(&number.len())
        && number.chars().all(|c| c.is_ascii_digit())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// The configuration of a run.
#[derive(Debug, Clone)]
pub struct Aws {
    /// What every AWS client of the run is built from.
    pub config: SdkConfig,
    pub region: Region,
}

impl Aws {
    /// The standard chain, with `named` as the region when the batch names one. `timeout`
    /// bounds each attempt of a call; a call with its retries is bounded by four times that.
    /// No region anywhere → an input error (exit 2) that says what to set.
    pub async fn load(timeout: Duration, named: Option<Region>) -> Result<Aws, RunError> {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .read_timeout(timeout)
            .operation_attempt_timeout(timeout)
            .operation_timeout(timeout * 4)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(4));
        if let Some(region) = &named {
            loader = loader.region(aws_config::Region::new(region.name.clone()));
        }
        let config = loader.load().await;
        let region = match named {
            Some(region) => region,
            None => match config.region() {
                Some(r) => Region::named(r.as_ref(), RegionFrom::Environment),
                None => {
                    return Err(RunError::Input(format!(
                        "no AWS region: {SET_REGION} to the region of your CodeBuild projects, or give the batch as its ARN (it names its region)"
                    )));
                }
            },
        };
        Ok(Aws { config, region })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_names() {
        for good in [
            "us-east-1",
            "eu-west-3",
            "us-gov-west-1",
            "cn-northwest-1",
            "ap-southeast-4",
            "il-central-1",
            "eusc-de-east-1",
        ] {
            assert!(is_region_name(good), "{good}");
        }
        for bad in [
            "",
            "us",
            "us-east",
            "useast1",
            "US-EAST-1",
            "us-east-1a",
            "us-east-100",
            "us--1",
            "us-east-1/../x",
            "127.0.0.1",
            "evil.example-1",
        ] {
            assert!(!is_region_name(bad), "{bad}");
        }
    }

    #[test]
    fn regions_say_where_they_came_from() {
        let r = Region::named("eu-west-1", RegionFrom::BatchArn);
        assert_eq!(r.to_string(), "eu-west-1 (from the batch ARN)");
        let env = Region::named("us-east-1", RegionFrom::Environment);
        assert_eq!(
            env.elsewhere_hint(),
            "if it is in another region, set AWS_REGION (or the Action's aws-region) to that region, or give the batch as its ARN"
        );
    }
}
