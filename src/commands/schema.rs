//! `schema`: the JSON Schema of the policy file.

use crate::policy::raw::RawPolicy;

/// The schema as pretty JSON, ending in a newline (what `policies/schema.json` holds).
pub fn render() -> String {
    let schema = schemars::schema_for!(RawPolicy);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
