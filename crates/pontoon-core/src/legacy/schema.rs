//! The vocabulary's JSON Schema (draft 2020-12): what a backend in another process, in any
//! language, reads and writes as JSON lines (issue 15, docs/backends.md). Generated from
//! the Rust types with schemars (wrapped here: the one place that names it besides the
//! derives), so it cannot drift from what the core parses; `docs/backends/vocabulary.schema.json`
//! is its published copy, checked by this module's test.

use serde_json::{Value, json};

use super::{LegacyCommand, LegacyEvent, VOCABULARY_VERSION};
use crate::transport::Descriptor;

/// The published copy, relative to the workspace.
pub const PUBLISHED: &str = "docs/backends/vocabulary.schema.json";

/// The schema: every type under `$defs`, and the three a backend speaks at the top:
/// `command` (core to backend), `event` (backend to core) and `descriptor` (what a
/// backend says of itself).
pub fn vocabulary() -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let command = generator.subschema_for::<LegacyCommand>();
    let event = generator.subschema_for::<LegacyEvent>();
    let descriptor = generator.subschema_for::<Descriptor>();
    let defs = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("Pontoon's vocabulary, version {VOCABULARY_VERSION}"),
        "description": "The messages between Pontoon's core and a transport, as JSON: commands go to the transport, events come from it, and the descriptor says what the transport is.",
        "version": VOCABULARY_VERSION,
        "type": "object",
        "properties": {
            "command": command.to_value(),
            "event": event.to_value(),
            "descriptor": descriptor.to_value(),
        },
        "$defs": defs,
    })
}

/// The schema as published: pretty, with a final newline.
pub fn published_text() -> String {
    pretty(&vocabulary())
}

/// A schema as the project publishes it: pretty, with a final newline.
pub fn pretty(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}

/// For the tests that keep a published schema current: whether the file at `relative`
/// (to the workspace) holds `now`, after writing it there when `PONTOON_WRITE_SCHEMA` is
/// set.
pub fn is_published(relative: &str, now: &str) -> bool {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    if std::env::var_os("PONTOON_WRITE_SCHEMA").is_some() && std::fs::write(&path, now).is_err() {
        return false;
    }
    std::fs::read_to_string(&path).is_ok_and(|published| published == now)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The published copy is the schema of these types; `PONTOON_WRITE_SCHEMA=1` rewrites it.
    #[test]
    fn the_published_schema_is_current() {
        assert!(
            is_published(PUBLISHED, &published_text()),
            "{PUBLISHED} is not the vocabulary's schema: run `PONTOON_WRITE_SCHEMA=1 cargo test -p pontoon-core --lib schema` and commit it"
        );
    }

    #[test]
    fn the_schema_names_every_message() {
        let schema = vocabulary();
        let defs = schema["$defs"].as_object().unwrap();
        for name in [
            "LegacyCommand",
            "LegacyEvent",
            "Descriptor",
            "LegacyId",
            "Verbs",
        ] {
            assert!(defs.contains_key(name), "{name} missing");
        }
        let events = serde_json::to_string(&defs["LegacyEvent"]).unwrap();
        for variant in ["member_of", "contact_list", "room_message", "verbs"] {
            assert!(
                events.contains(&format!("\"{variant}\"")),
                "{variant} missing"
            );
        }
    }
}
