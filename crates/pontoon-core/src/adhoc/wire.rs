//! The XEP-0050 wire pieces every ad-hoc command shares, the operator's (`super`) and the
//! user's settings (`crate::settings::adhoc`): forms, submitted values, the `<command/>`
//! answer and its errors.

use std::collections::BTreeMap;

use minidom::Element;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};

use super::{NS_COMMANDS, NS_DATA};
use crate::stanza::{self, Refusal};

pub(crate) fn field(var: &str, type_: FieldType, label: &str, required: bool) -> Field {
    let mut f = Field::new(var, type_);
    f.label = Some(label.to_owned());
    f.required = required;
    f
}

pub(crate) fn form(
    type_: DataFormType,
    title: &str,
    instructions: Option<&str>,
    fields: Vec<Field>,
) -> DataForm {
    // No FORM_TYPE: these forms are private to one command.
    DataForm {
        type_,
        title: Some(title.to_owned()),
        instructions: instructions.map(str::to_owned),
        fields,
    }
}

/// The submitted values of the form in `command` (every value of each field), if any.
pub(crate) fn submitted(command: &Element) -> Option<BTreeMap<String, Vec<String>>> {
    let x = command.get_child("x", NS_DATA)?;
    let mut values = BTreeMap::new();
    for f in x.children().filter(|c| c.name() == "field") {
        let Some(var) = f.attr("var") else { continue };
        let v: Vec<String> = f
            .children()
            .filter(|c| c.name() == "value")
            .map(|c| c.text())
            .collect();
        values.insert(var.to_owned(), v);
    }
    Some(values)
}

pub(crate) fn first<'a>(values: &'a BTreeMap<String, Vec<String>>, var: &str) -> &'a str {
    values
        .get(var)
        .and_then(|v| v.first())
        .map(|s| s.trim())
        .unwrap_or_default()
}

/// An operator check's message as a sentence of a note.
pub(crate) fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => format!("{}{}.", c.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// `el` with the attribute `name` (a valid name: always one of ours) set to `value`.
pub(crate) fn with_attr(mut el: Element, name: &str, value: &str) -> Element {
    stanza::set_attr(&mut el, name, value);
    el
}

/// The `<command/>` element of an answer.
pub(crate) fn command_element(node: &str, sessionid: &str, status: &str) -> Element {
    let el = Element::builder("command", NS_COMMANDS).build();
    let el = with_attr(el, "node", node);
    let el = with_attr(el, "sessionid", sessionid);
    with_attr(el, "status", status)
}

/// An IQ error for `el` with an XEP-0050 specific condition inside `<error/>`.
/// The answer to the command `iq`: completed, with `text` as its note (an error note when
/// `failed`).
pub(crate) fn completed(
    iq: &Element,
    node: &str,
    sessionid: &str,
    text: &str,
    failed: bool,
) -> Element {
    let mut command = command_element(node, sessionid, "completed");
    let note = Element::builder("note", NS_COMMANDS)
        .append(text.to_owned())
        .build();
    command.append_child(with_attr(
        note,
        "type",
        if failed { "error" } else { "info" },
    ));
    crate::stanza::iq_result_to(iq, Some(command))
}

pub(crate) fn command_error(
    el: &Element,
    refusal: &Refusal,
    specific: Option<&str>,
) -> Option<Element> {
    let mut reply = refusal.reply_to(el)?;
    if let Some(specific) = specific
        && let Some(error) = reply.get_child_mut("error", pontoon_xmpp::ns::CLIENT)
    {
        error.append_child(Element::builder(specific, NS_COMMANDS).build());
    }
    Some(reply)
}

/// disco#info of the command node `node`, named `name`.
/// The disco#items of `commands` (node and name) at `jid`.
pub(crate) fn command_items(
    jid: &jid::Jid,
    commands: &[(&str, &str)],
) -> Vec<xmpp_parsers::disco::Item> {
    commands
        .iter()
        .map(|(node, name)| xmpp_parsers::disco::Item {
            jid: jid.clone(),
            node: Some((*node).to_owned()),
            name: Some((*name).to_owned()),
        })
        .collect()
}

/// The disco#info of `node`, if it is one of `commands`.
pub(crate) fn command_info(commands: &[(&str, &str)], node: &str) -> Option<Element> {
    let (node, name) = commands.iter().find(|(n, _)| *n == node)?;
    Some(node_info(node, name))
}

pub(crate) fn node_info(node: &str, name: &str) -> Element {
    DiscoInfoResult {
        node: Some(node.to_owned()),
        identities: vec![Identity::new("automation", "command-node", "en", name)],
        features: [NS_COMMANDS, NS_DATA]
            .iter()
            .map(|f| (*f).to_owned())
            .collect(),
        extensions: vec![],
    }
    .into()
}

/// The `<command/>` of a first step handing out `form`, to be completed.
pub(crate) fn executing(node: &str, sessionid: &str, form: DataForm) -> Element {
    let mut answer = command_element(node, sessionid, "executing");
    let actions = Element::builder("actions", NS_COMMANDS)
        .append(Element::builder("complete", NS_COMMANDS).build())
        .build();
    answer.append_child(with_attr(actions, "execute", "complete"));
    answer.append_child(crate::explicit::form(form));
    answer
}
