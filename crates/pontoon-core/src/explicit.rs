//! Elements whose default attribute values must be written out.
//!
//! xmpp-parsers leaves an attribute out when it holds the type's default value: an
//! XEP-0045 item with affiliation or role `none`, an XEP-0004 field of type `text-single`.
//! Both are valid to a parser that knows the defaults, but XEP-0045 requires `affiliation`
//! and `role` on every occupant item (profanity shows "(null)" without them), and clients
//! such as profanity cannot fill a field that has no `type`. Every MUC item and data form
//! Pontoon sends is turned into an element here, so no other module meets the quirk.

use minidom::Element;
use xmpp_parsers::data_forms::DataForm;
use xmpp_parsers::muc::user::MucUser;
use xmpp_parsers::ns;

use crate::stanza::set_attr;

/// The `<x xmlns='http://jabber.org/protocol/muc#user'/>` of `x`, every item with its
/// `affiliation` and `role`.
pub fn muc_user(x: MucUser) -> Element {
    let mut el = Element::from(x);
    for item in el.children_mut().filter(|c| c.is("item", ns::MUC_USER)) {
        for attr in ["affiliation", "role"] {
            if item.attr(attr).is_none() {
                set_attr(item, attr, "none");
            }
        }
    }
    el
}

/// The `<x xmlns='jabber:x:data'/>` of `form`, every field with its `type`.
pub fn form(form: DataForm) -> Element {
    let mut el = Element::from(form);
    for field in el.children_mut().filter(|c| c.is("field", ns::DATA_FORMS)) {
        if field.attr("type").is_none() {
            set_attr(field, "type", "text-single");
        }
    }
    el
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_parsers::data_forms::{DataFormType, Field, FieldType};
    use xmpp_parsers::muc::user::{Affiliation, Item, Role};

    #[test]
    fn default_affiliation_and_role_are_written() {
        let x = MucUser::new().with_items(vec![Item::new(Affiliation::None, Role::None)]);
        let el = muc_user(x);
        let item = el.get_child("item", ns::MUC_USER).unwrap();
        assert_eq!(item.attr("affiliation"), Some("none"));
        assert_eq!(item.attr("role"), Some("none"));
        // The quirk this module exists for: without it the attributes are missing.
        let raw = Element::from(
            MucUser::new().with_items(vec![Item::new(Affiliation::None, Role::None)]),
        );
        let raw_item = raw.get_child("item", ns::MUC_USER).unwrap();
        assert_eq!(raw_item.attr("affiliation"), None);
        let parsed = MucUser::try_from(el).unwrap();
        assert_eq!(parsed.items[0].affiliation, Affiliation::None);
    }

    #[test]
    fn every_field_has_a_type() {
        let f = DataForm::new(
            DataFormType::Form,
            "urn:example",
            vec![
                Field::new("nick", FieldType::TextSingle),
                Field::new("password", FieldType::TextPrivate),
            ],
        );
        let el = form(f);
        let types: Vec<_> = el
            .children()
            .filter(|c| c.is("field", ns::DATA_FORMS))
            .map(|c| (c.attr("var"), c.attr("type")))
            .collect();
        assert_eq!(
            types,
            vec![
                (Some("FORM_TYPE"), Some("hidden")),
                (Some("nick"), Some("text-single")),
                (Some("password"), Some("text-private")),
            ]
        );
    }
}
