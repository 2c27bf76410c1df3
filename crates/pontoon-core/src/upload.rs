//! XEP-0363 HTTP File Upload, the XMPP half: in server mode Pontoon is the user's server,
//! so the domain hands out upload slots (without one a client cannot send a file at all).
//! A slot is a row in the store (`pontoon_store::uploads`); the HTTP half, which takes the
//! PUT and serves the GET, is `pontoon-http`. Limits are the operator's
//! ([`UploadPolicy`]): a size cap per transport and per user, media types, a quota per
//! user, retention.

use pontoon_xmpp::OutStanza;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jid::BareJid;
use minidom::Element;
use pontoon_store::{NewUpload, SlotOutcome, Store};
use tokio::sync::mpsc;
use xmpp_parsers::data_forms::{DataForm, DataFormType, Field, FieldType};
use xmpp_parsers::disco::{DiscoInfoResult, Identity};
use xmpp_parsers::http_upload::{Get, Put, SlotRequest, SlotResult};

use crate::stanza::{self, Header, Refusal};

/// The XEP-0363 namespace.
pub const NS: &str = "urn:xmpp:http:upload:0";

/// Path of uploaded files under the public URL: `{public_url}/upload/{id}/{name}`.
pub const UPLOAD_PATH: &str = "upload";

/// Limits that can differ per user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadLimits {
    /// Largest file, in bytes.
    pub max_file_size: u64,
    /// Bytes of stored files (and open slots) per user.
    pub quota: u64,
}

/// What the operator allows, for one transport's users.
#[derive(Clone, Debug)]
pub struct UploadPolicy {
    /// The URL clients reach the HTTP listener at (`https://files.example.org`), without a
    /// trailing slash.
    pub public_url: String,
    /// The limits of everybody without their own.
    pub limits: UploadLimits,
    /// Limits of particular users.
    pub users: HashMap<BareJid, UploadLimits>,
    /// Media types accepted (`image/png`, or `image/*`); empty takes any.
    pub allowed_types: Vec<String>,
    /// How long a slot waits for its PUT.
    pub slot_lifetime: Duration,
    /// Files are deleted this long after upload; `None` keeps them.
    pub retention: Option<Duration>,
}

impl UploadPolicy {
    /// `user`'s limits.
    pub fn limits_of(&self, user: &BareJid) -> &UploadLimits {
        self.users.get(user).unwrap_or(&self.limits)
    }

    /// Whether files of `media_type` may be uploaded.
    pub fn allows_type(&self, media_type: &str) -> bool {
        self.allowed_types.is_empty()
            || self
                .allowed_types
                .iter()
                .any(|a| match a.strip_suffix("/*") {
                    Some(major) => media_type
                        .split_once('/')
                        .is_some_and(|(m, _)| m.eq_ignore_ascii_case(major)),
                    None => a.eq_ignore_ascii_case(media_type),
                })
    }

    /// The URL of upload `id` named `name`.
    pub fn file_url(&self, id: &str, name: &str) -> String {
        format!(
            "{}/{UPLOAD_PATH}/{id}/{}",
            self.public_url,
            percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC)
        )
    }

    /// What the domain's disco#info adds (XEP-0363 section 3): the feature, a `store/file`
    /// identity and the largest file everybody may send.
    pub fn extend_disco(&self, info: &mut DiscoInfoResult) {
        info.identities
            .push(Identity::new("store", "file", "en", "HTTP File Upload"));
        info.features.insert(NS.to_owned());
        let mut form = DataForm::new(DataFormType::Result_, NS, vec![]);
        form.fields.push(
            Field::new("max-file-size", FieldType::TextSingle)
                .with_value(&self.limits.max_file_size.to_string()),
        );
        info.extensions.push(form);
    }
}

/// A file name fit for a URL path and a `Content-Disposition`: no directories, no control
/// characters, at most [`pontoon_store::MAX_UPLOAD_NAME_BYTES`] bytes; `None` when nothing
/// is left.
pub fn clean_name(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out = String::with_capacity(base.len());
    for c in base.chars().filter(|c| !c.is_control() && *c != '"') {
        if out.len() + c.len_utf8() > pontoon_store::MAX_UPLOAD_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    let out = out.trim().to_owned();
    (!out.is_empty() && out != "." && out != "..").then_some(out)
}

/// Checks `request` against `policy` for `user`, before anything is stored: the declared
/// name, size and type.
fn check(policy: &UploadPolicy, user: &BareJid, request: &SlotRequest) -> Result<String, Refusal> {
    let limits = policy.limits_of(user);
    if request.size > limits.max_file_size {
        return Err(too_large(limits.max_file_size));
    }
    if request.size == 0 {
        return Err(Refusal::modify("bad-request", "The file is empty."));
    }
    let media_type = request
        .content_type
        .as_deref()
        .unwrap_or("application/octet-stream");
    if !policy.allows_type(media_type) {
        return Err(Refusal::modify(
            "not-acceptable",
            format!(
                "Files of type {media_type} cannot be uploaded here; allowed: {}.",
                policy.allowed_types.join(", ")
            ),
        ));
    }
    clean_name(&request.filename)
        .ok_or_else(|| Refusal::modify("bad-request", "The file needs a name."))
}

fn too_large(max: u64) -> Refusal {
    Refusal::modify(
        "not-acceptable",
        format!("The file is too large: at most {max} bytes may be uploaded."),
    )
}

/// The error reply to `iq` for `refusal`, with XEP-0363's own element where one applies
/// (`file-too-large` with the limit, `retry` with when to try again).
fn error_reply(iq: &Element, refusal: &Refusal, extra: Option<Element>) -> Option<Element> {
    let mut reply = refusal.reply_to(iq)?;
    if let Some(extra) = extra
        && let Some(error) = reply.children_mut().find(|c| c.name() == "error")
    {
        error.append_child(extra);
    }
    Some(reply)
}

/// Where a service's slot requests are answered from.
pub(crate) struct Desk {
    /// The operator's limits.
    pub(crate) policy: Arc<UploadPolicy>,
    /// Where slots are kept.
    pub(crate) store: Store,
    /// Where replies go.
    pub(crate) out: mpsc::Sender<OutStanza>,
    /// The transport the users are logged in to.
    pub(crate) transport: String,
    /// The domain answering.
    pub(crate) domain: jid::Jid,
}

/// Answers a slot request `iq` (payload `payload`) from `header`'s sender at `desk`: the
/// checks at once, the store write in a task of its own so that a slow store never holds
/// the service.
pub(crate) fn request_slot(desk: Desk, iq: Element, header: Header, payload: Element) {
    let Desk {
        policy,
        store,
        out,
        transport,
        domain,
    } = desk;
    let user = header.user().clone();
    let request = match SlotRequest::try_from(payload) {
        Ok(r) => r,
        Err(_) => {
            let refusal =
                Refusal::modify("bad-request", "A slot request needs a filename and a size.");
            send_refusal(&out, &iq, &refusal, None);
            return;
        }
    };
    let name = match check(&policy, &user, &request) {
        Ok(n) => n,
        Err(refusal) => {
            let extra = (refusal.text.starts_with("The file is too large")).then(|| {
                let mut el = Element::bare("file-too-large", NS);
                let mut max = Element::bare("max-file-size", NS);
                max.append_text(policy.limits_of(&user).max_file_size.to_string());
                el.append_child(max);
                el
            });
            send_refusal(&out, &iq, &refusal, extra);
            return;
        }
    };
    tokio::spawn(async move {
        let media_type = request
            .content_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".to_owned());
        let limits = policy.limits_of(&user);
        let new = NewUpload {
            owner: user.as_str(),
            transport: &transport,
            name: &name,
            media_type: &media_type,
            size: request.size,
            slot_secs: secs(policy.slot_lifetime),
        };
        let retention = policy.retention.map(secs);
        let reply = match store.create_upload(&new, limits.quota, retention).await {
            Ok(SlotOutcome::Created(upload)) => {
                let url = policy.file_url(&upload.id, &name);
                let slot = SlotResult {
                    put: Put {
                        url: url.clone(),
                        headers: vec![],
                    },
                    get: Get { url },
                };
                tracing::debug!(size = request.size, "upload slot handed out");
                Ok(stanza::iq_result(&domain, &header, Some(slot.into())))
            }
            Ok(SlotOutcome::OverQuota { used, frees_at }) => {
                let text = format!(
                    "Your uploads use {used} of your {} bytes; this file does not fit{}.",
                    limits.quota,
                    if frees_at.is_some() {
                        " until older files expire"
                    } else {
                        ""
                    }
                );
                let retry = frees_at.map(|t| {
                    let stamp = crate::time::Utc::from_unix(t).rfc3339();
                    crate::stanza::elem("retry", NS, &[("stamp", &stamp)])
                });
                Err((Refusal::wait("resource-constraint", text), retry))
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not store an upload slot");
                Err((
                    Refusal::wait(
                        "internal-server-error",
                        "The upload service cannot store your file now; try again later.",
                    ),
                    None,
                ))
            }
        };
        match reply {
            Ok(el) => {
                let _ = out.send(el.into()).await;
            }
            Err((refusal, extra)) => send_refusal(&out, &iq, &refusal, extra),
        }
    });
}

fn send_refusal(
    out: &mpsc::Sender<OutStanza>,
    iq: &Element,
    refusal: &Refusal,
    extra: Option<Element>,
) {
    if let Some(reply) = error_reply(iq, refusal, extra) {
        crate::stanza::log_error_sent(&reply);
        // The link's queue is bounded: a full one drops this answer rather than wait in a
        // handler (the client's request times out, as with any lost reply).
        let _ = out.try_send(reply.into());
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn policy() -> UploadPolicy {
        UploadPolicy {
            public_url: "https://files.example.org".into(),
            limits: UploadLimits {
                max_file_size: 1000,
                quota: 5000,
            },
            users: HashMap::from([(
                BareJid::new("big@example.org").unwrap(),
                UploadLimits {
                    max_file_size: 9000,
                    quota: 90000,
                },
            )]),
            allowed_types: vec!["image/*".into(), "text/plain".into()],
            slot_lifetime: Duration::from_secs(300),
            retention: None,
        }
    }

    fn request(name: &str, size: u64, ty: Option<&str>) -> SlotRequest {
        SlotRequest {
            filename: name.into(),
            size,
            content_type: ty.map(str::to_owned),
        }
    }

    #[test]
    fn limits_types_and_names() {
        let p = policy();
        let alice = BareJid::new("alice@example.org").unwrap();
        let big = BareJid::new("big@example.org").unwrap();
        assert_eq!(
            check(&p, &alice, &request("a.png", 10, Some("image/png"))).unwrap(),
            "a.png"
        );
        let e = check(&p, &alice, &request("a.png", 2000, Some("image/png"))).unwrap_err();
        assert_eq!((e.error_type, e.condition), ("modify", "not-acceptable"));
        assert!(check(&p, &big, &request("a.png", 2000, Some("image/png"))).is_ok());
        let e = check(&p, &alice, &request("a.html", 10, Some("text/html"))).unwrap_err();
        assert_eq!(e.condition, "not-acceptable");
        assert!(e.text.contains("text/html"));
        assert!(check(&p, &alice, &request("a.txt", 10, Some("TEXT/PLAIN"))).is_ok());
        assert_eq!(
            check(&p, &alice, &request("../x", 10, Some("image/png"))).unwrap(),
            "x"
        );
        assert!(check(&p, &alice, &request("..", 10, Some("image/png"))).is_err());
        assert!(check(&p, &alice, &request("a", 0, Some("image/png"))).is_err());
    }

    #[test]
    fn names_are_cleaned_and_encoded() {
        assert_eq!(
            clean_name("C:\\x\\très \"cool\".jpg\n").unwrap(),
            "très cool.jpg"
        );
        assert_eq!(clean_name(&"é".repeat(200)).unwrap().len(), 254);
        assert_eq!(
            policy().file_url("ID", "très cool.jpg"),
            "https://files.example.org/upload/ID/tr%C3%A8s%20cool%2Ejpg"
        );
    }

    #[test]
    fn disco_lists_the_feature_and_the_size() {
        let mut info = crate::disco::domain_info("irc", "IRC", None);
        policy().extend_disco(&mut info);
        assert!(info.features.contains(NS));
        let el: Element = info.into();
        let xml = String::from(&el);
        assert!(xml.contains("max-file-size"), "{xml}");
        assert!(xml.contains("<value>1000</value>"), "{xml}");
    }
}
