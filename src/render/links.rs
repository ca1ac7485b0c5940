//! Links into the CodeBuild console, built from ARNs.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// `(region, account)` from `arn:aws:codebuild:REGION:ACCOUNT:…`.
fn region_account(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let (_, partition, service, region, account) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let safe = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    (partition == "aws" && service == "codebuild" && safe(region) && safe(account))
        .then_some((region, account))
}

fn page(arn: &str, kind: &str, id: &str) -> Option<String> {
    let (region, account) = region_account(arn)?;
    let (project, _) = id.split_once(':')?;
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    Some(format!(
        "https://{region}.console.aws.amazon.com/codesuite/codebuild/{account}/projects/{}/{kind}/{}/?region={region}",
        enc(project),
        enc(id)
    ))
}

/// The console page of a batch, from its ARN.
pub fn batch_url(batch_arn: &str, batch_id: &str) -> Option<String> {
    page(batch_arn, "batch", batch_id)
}

/// The console page of a build of the batch (region and account from the batch's ARN).
pub fn build_url(batch_arn: &str, build_id: &str) -> Option<String> {
    page(batch_arn, "build", build_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_links_round_trip_through_the_event_parser() {
        let arn = "arn:aws:codebuild:eu-west-1:111122223333:build-batch/acme-web:abc-1";
        let url = batch_url(arn, "acme-web:abc-1").unwrap();
        assert_eq!(
            url,
            "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/111122223333/projects/acme%2Dweb/batch/acme%2Dweb%3Aabc%2D1/?region=eu-west-1"
        );
        assert_eq!(
            crate::batch_ref::parse_console_url(&url).unwrap(),
            crate::batch_ref::ConsoleTarget::Batch(
                crate::batch_ref::BatchId::parse("acme-web:abc-1").unwrap()
            )
        );
        assert!(batch_url("arn:aws:codebuild:eu-west-1:1:build-batch/x", "no-colon").is_none());
        assert!(batch_url("not-an-arn", "a:b").is_none());
    }
}
