//! The settings as an XEP-0004 form, for the ad-hoc command (`super::adhoc`): the form
//! shown with the current values, and the changes a submitted form asks for. Secrets are
//! never put in the form: an empty secret field keeps the value, and the `clear` field
//! lists what to unset.

use std::collections::BTreeMap;

use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType, Option_};

use super::{SettingKind, SettingSpec, Values};

/// The form field listing the settings to clear.
pub const CLEAR: &str = "clear";

/// A change a submitted form asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Set `name` to the value.
    Set(String, String),
    /// Clear `name`.
    Unset(String),
}

/// The form of `specs` with `values` filled in; `show` is what the transport says of a
/// secret's value that gives nothing away
/// ([`Transport::show_setting`](crate::Transport::show_setting)).
pub fn form(
    specs: &[SettingSpec],
    values: &Values,
    title: String,
    show: &dyn Fn(&str, &str) -> Option<String>,
) -> DataForm {
    let mut fields: Vec<Field> = specs
        .iter()
        .map(|spec| {
            let current = values.get(&spec.name);
            let type_ = match spec.kind {
                SettingKind::Text | SettingKind::Number { .. } => FieldType::TextSingle,
                SettingKind::Secret => FieldType::TextPrivate,
                SettingKind::Bool => FieldType::Boolean,
                SettingKind::Lines { .. } => FieldType::TextMulti,
            };
            let mut f = Field::new(&spec.name, type_);
            f.desc = Some(match (spec.kind, current) {
                (SettingKind::Secret, Some(v)) => match show(&spec.name, v) {
                    Some(shown) => format!("{} Now: {shown}.", spec.help),
                    None => spec.help.clone(),
                },
                _ => spec.help.clone(),
            });
            f.label = Some(match (spec.kind, current) {
                (SettingKind::Secret, Some(_)) => format!("{} (set; empty keeps it)", spec.name),
                (SettingKind::Secret, None) => format!("{} (not set)", spec.name),
                _ => spec.name.clone(),
            });
            f.values = match (spec.kind, current.or(spec.default.as_ref())) {
                (SettingKind::Secret, _) | (_, None) => Vec::new(),
                (SettingKind::Bool, Some(v)) => vec![if v == "on" { "1" } else { "0" }.to_owned()],
                (SettingKind::Lines { .. }, Some(v)) => v.lines().map(str::to_owned).collect(),
                (_, Some(v)) => vec![v.clone()],
            };
            f
        })
        .collect();
    let mut clear = Field::new(CLEAR, FieldType::ListMulti);
    clear.label = Some("Clear these settings".to_owned());
    clear.options = specs
        .iter()
        .map(|s| Option_ {
            label: None,
            value: s.name.clone(),
        })
        .collect();
    fields.push(clear);
    DataForm {
        type_: DataFormType::Form,
        title: Some(title),
        instructions: Some(
            "Changes apply from the next connection to this network (your next login). Leave a password empty to keep it; tick it under \"Clear these settings\" to remove it.".to_owned(),
        ),
        fields,
    }
}

/// The changes `submitted` asks for over `values`, in the order of `specs`.
pub fn changes(
    specs: &[SettingSpec],
    values: &Values,
    submitted: &BTreeMap<String, Vec<String>>,
) -> Vec<Change> {
    let clear = submitted.get(CLEAR).cloned().unwrap_or_default();
    let mut out = Vec::new();
    for spec in specs {
        let current = values.get(&spec.name);
        if clear.iter().any(|c| c == &spec.name) {
            if current.is_some() {
                out.push(Change::Unset(spec.name.clone()));
            }
            continue;
        }
        let Some(typed) = submitted.get(&spec.name) else {
            continue;
        };
        let first = typed.first().map(|v| v.trim()).unwrap_or_default();
        let value = match spec.kind {
            SettingKind::Lines { .. } => typed.join("\n").trim().to_owned(),
            SettingKind::Bool if first.is_empty() => String::new(),
            SettingKind::Bool => if matches!(first, "1" | "true") {
                "on"
            } else {
                "off"
            }
            .to_owned(),
            _ => first.to_owned(),
        };
        if value.is_empty() {
            // An empty secret keeps it (the form never holds it); another field emptied is
            // cleared.
            if spec.kind != SettingKind::Secret && current.is_some() {
                out.push(Change::Unset(spec.name.clone()));
            }
            continue;
        }
        let unchanged = match current {
            Some(c) => c == &value,
            None => spec.default.as_ref() == Some(&value),
        };
        if !unchanged {
            out.push(Change::Set(spec.name.clone(), value));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn specs() -> Vec<SettingSpec> {
        vec![
            SettingSpec::new("nick", SettingKind::Text, "n"),
            SettingSpec::new("pw", SettingKind::Secret, "p"),
            SettingSpec::new("sasl", SettingKind::Bool, "s").with_default("on"),
            SettingSpec::new("commands", SettingKind::Lines { max: 8 }, "c"),
        ]
    }

    fn map(kv: &[(&str, &[&str])]) -> BTreeMap<String, Vec<String>> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
            .collect()
    }

    #[test]
    fn the_form_shows_values_but_never_secrets() {
        let values: Values = [("pw", "hunter2"), ("commands", "A\nB")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let f = form(&specs(), &values, "t".into(), &|_, _| None);
        let field = |n: &str| {
            f.fields
                .iter()
                .find(|x| x.var.as_deref() == Some(n))
                .unwrap()
        };
        assert!(field("pw").values.is_empty());
        assert!(field("pw").label.as_deref().unwrap().contains("set"));
        assert_eq!(field("sasl").values, vec!["1"]);
        assert_eq!(field("commands").values, vec!["A", "B"]);
        assert_eq!(field(CLEAR).options.len(), 4);
    }

    #[test]
    fn a_submitted_form_changes_what_it_changes() {
        let values: Values = [("pw", "hunter2"), ("nick", "bob")]
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        // Unchanged, an empty secret, a switch at its default: nothing.
        let same = map(&[
            ("nick", &["bob"]),
            ("pw", &[""]),
            ("sasl", &["1"]),
            ("commands", &[]),
        ]);
        assert_eq!(changes(&specs(), &values, &same), vec![]);
        let new = map(&[
            ("nick", &[""]),
            ("sasl", &["false"]),
            ("commands", &["MODE x +i", "AWAY :y"]),
            (CLEAR, &["pw"]),
        ]);
        assert_eq!(
            changes(&specs(), &values, &new),
            vec![
                Change::Unset("nick".into()),
                Change::Unset("pw".into()),
                Change::Set("sasl".into(), "off".into()),
                Change::Set("commands".into(), "MODE x +i\nAWAY :y".into()),
            ]
        );
    }
}
