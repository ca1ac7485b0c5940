//! Checks beyond validity: rules that can never match, and settings whose consequence a
//! policy author may not see. Warnings do not stop a policy from loading (`validate` exits 0
//! unless `--strict`); a lower-case status code is an error, because it can never match.
//!
//! Kept apart from [`super::validate`] (which checks that a policy is well-formed): every
//! check here is a function over the validated [`Policy`] and the positions of the file.

use globset::GlobBuilder;

use super::locate::Locations;
use super::{Diagnostic, Policy};

/// The phase-context status codes CodeBuild is documented (or, where marked, observed in
/// AWS's own material) to write. CodeBuild's API reference does not enumerate them
/// (`PhaseContext.statusCode` is a free string), so a code outside this list is only a
/// warning. Sources, AWS CodeBuild User Guide (awsdocs/aws-codebuild-user-guide, c77fb27):
/// - `BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE`: troubleshooting.md, "Error:
///   BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE when using a custom build image";
/// - `YAML_FILE_ERROR`: troubleshooting.md, "the DOWNLOAD_SOURCE build phase fails with the
///   error YAML_FILE_ERROR: This build image requires selecting at least one runtime version";
/// - `INSUFFICIENT_SUBNET`: troubleshooting.md, "QUEUED: INSUFFICIENT_SUBNET";
/// - `CLIENT_ERROR`, `VPC_CLIENT_ERROR`: sample-efs.md, troubleshooting ("CLIENT_ERROR:
///   mounting … failed", "VPC_CLIENT_ERROR: Unexpected EC2 error");
/// - `COMMAND_EXECUTION_ERROR`: the CodeBuild agent's log line "Phase context status code:
///   COMMAND_EXECUTION_ERROR Message: Error while executing command" (aws/aws-codebuild-docker-images#102;
///   every failed buildspec command) — observed, not in the guide;
/// - `BUILD_TIMED_OUT`, `BATCH_DELETED`: observed in captures (this repository's examples;
///   the AWS CLI example of delete-build-batch) — assumed.
pub const STATUS_CODES: [&str; 8] = [
    "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE",
    "BUILD_TIMED_OUT",
    "BATCH_DELETED",
    "CLIENT_ERROR",
    "COMMAND_EXECUTION_ERROR",
    "INSUFFICIENT_SUBNET",
    "VPC_CLIENT_ERROR",
    "YAML_FILE_ERROR",
];

/// Problems that make a rule unable to match: errors (the policy does not load).
pub fn errors(policy: &Policy, at: &Locations, file: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(codes) = &rule.status_codes else {
            continue;
        };
        for (j, pattern) in codes.patterns.iter().enumerate() {
            if is_lower_case(pattern) {
                found.push(Diagnostic {
                    file: file.to_string(),
                    pos: at.value(&format!("rules[{i}].status-codes[{j}]")),
                    code: "lowercase-status-code",
                    message: format!(
                        "status code `{pattern}` is lower case, but CodeBuild's status codes are upper case and matched case-sensitively: this can never match"
                    ),
                    help: Some(format!("write `{}`", pattern.to_ascii_uppercase())),
                });
            }
        }
    }
    found
}

/// Settings that are valid but probably not what the author meant.
pub fn warnings(policy: &Policy, at: &Locations, file: &str) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    let mut warn = |path: &str, code: &'static str, message: String, help: Option<String>| {
        found.push(Diagnostic {
            file: file.to_string(),
            pos: at.value(path),
            code,
            message,
            help,
        });
    };
    if policy.rules.is_empty() {
        warn(
            "rules",
            "no-rules",
            "`rules` is empty: no failure is ever retried (every failed batch is refused: no rule matches)".into(),
            Some("add a rule (see docs/policy.md), or remove the file to use the built-in default policy".into()),
        );
    }
    if !policy.context.contains(super::PROJECT_PLACEHOLDER) && at_has(at, "context") {
        warn(
            "context",
            "fixed-context",
            format!(
                "`context` `{}` has no `{{project}}`: batches of every project post the same status, so on a commit that several projects build, the last result overwrites the others",
                policy.context
            ),
            Some(format!(
                "add the project, e.g. `context: \"{} ({{project}})\"`; a required check then names each project",
                policy.context
            )),
        );
    }
    for (i, rule) in policy.rules.iter().enumerate() {
        let Some(codes) = &rule.status_codes else {
            continue;
        };
        for (j, pattern) in codes.patterns.iter().enumerate() {
            if is_lower_case(pattern) || matches_a_known_code(pattern) {
                continue;
            }
            let help = match suggest(pattern) {
                Some(code) => format!("did you mean `{code}`?"),
                None => format!("documented codes: {}", STATUS_CODES.join(", ")),
            };
            warn(
                &format!("rules[{i}].status-codes[{j}]"),
                "unknown-status-code",
                format!(
                    "status code `{pattern}` matches none of CodeBuild's documented status codes: rule `{}` may never match",
                    rule.name
                ),
                Some(help),
            );
        }
    }
    found.sort_by_key(|d| (d.pos.line, d.pos.column));
    found
}

/// The key is written in the file (not a default).
fn at_has(at: &Locations, path: &str) -> bool {
    at.mappings()
        .any(|(p, keys)| p.is_empty() && keys.iter().any(|(k, _)| k == path))
}

/// Shaped like a status code, but in lower case: `command_execution_error`, `*_error`
/// (letters, digits, `_` and the wildcards `*` `?`, at least one letter, none upper case).
fn is_lower_case(pattern: &str) -> bool {
    pattern.chars().any(|c| c.is_ascii_lowercase())
        && pattern
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '*' | '?'))
}

/// The glob matches at least one documented code (a bad glob was reported already).
fn matches_a_known_code(pattern: &str) -> bool {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map(|g| g.compile_matcher())
        .is_ok_and(|m| STATUS_CODES.iter().any(|c| m.is_match(c)))
}

/// The closest documented code to a mistyped one.
fn suggest(pattern: &str) -> Option<&'static str> {
    let folded = pattern.to_ascii_uppercase().replace(['-', ' '], "_");
    STATUS_CODES
        .iter()
        .map(|c| (strsim::damerau_levenshtein(&folded, c), *c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_known_mistyped_and_lower_case() {
        assert!(matches_a_known_code("BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE"));
        assert!(matches_a_known_code("*_ERROR"));
        assert!(matches_a_known_code("*"));
        assert!(!matches_a_known_code(
            "BUILD_CONTAINER_UNABLE_TO_PULL_IMAGES"
        ));
        assert_eq!(
            suggest("BUILD_CONTAINER_UNABLE_TO_PULL_IMAGES"),
            Some("BUILD_CONTAINER_UNABLE_TO_PULL_IMAGE")
        );
        assert_eq!(
            suggest("COMAND_EXECUTION_ERROR"),
            Some("COMMAND_EXECUTION_ERROR")
        );
        assert_eq!(suggest("SOMETHING_ELSE_ENTIRELY"), None);
        assert!(is_lower_case("command_execution_error"));
        assert!(is_lower_case("*_error"));
        assert!(!is_lower_case("COMMAND_EXECUTION_ERROR"));
        assert!(!is_lower_case("*"));
        assert!(!is_lower_case("Decrypted Variables Error"));
        assert!(!is_lower_case("[unclosed"));
    }
}
