//! The user's files, sent to Matrix: each link their client sent (an XEP-0363 upload, an
//! XEP-0066 URL) is fetched, bounded by `max_upload_kib`, uploaded to the homeserver and
//! sent as its message type; the words of the message around the links go first, as
//! text. A file that cannot be fetched or uploaded fails the whole message, which the
//! core bounces to the user with the reason (never a silent drop).

use std::time::Duration;

use pontoon_core::legacy::{Attachment, MessageKind};
use ruma::OwnedEventId;
use ruma::events::room::message::RoomMessageEventContent;

use super::Session;

/// How long fetching one file from its link may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);

impl Session {
    /// The events of a message the user sent: its text alone, or with files as
    /// [`Session::file_contents`] says.
    pub(super) async fn contents(
        &self,
        body: &str,
        kind: MessageKind,
        reply_to: Option<&str>,
        thread: Option<(OwnedEventId, OwnedEventId)>,
        attachments: &[Attachment],
    ) -> Result<Vec<RoomMessageEventContent>, String> {
        if attachments.is_empty() {
            return Ok(vec![super::verbs::message(body, kind, reply_to, thread)]);
        }
        // Boxed: fetching and uploading files is a large future, and rare.
        Box::pin(self.file_contents(body, kind, reply_to, thread, attachments)).await
    }

    /// The events that carry `body` and its `attachments`: the text without the links
    /// (when any is left), then one media event per file; all in `thread` (root, latest
    /// event), the reply, if any, on the first.
    async fn file_contents(
        &self,
        body: &str,
        kind: MessageKind,
        reply_to: Option<&str>,
        thread: Option<(OwnedEventId, OwnedEventId)>,
        attachments: &[Attachment],
    ) -> Result<Vec<RoomMessageEventContent>, String> {
        // Every event of the message is in its thread; the reply is on the first.
        let relation = |first: bool| {
            let reply_to = if first { reply_to } else { None };
            super::verbs::message("", kind, reply_to, thread.clone()).relates_to
        };
        let mut text = body.to_owned();
        for a in attachments {
            text = text.replace(&a.url, "");
        }
        let text = text.trim();
        let mut out = Vec::with_capacity(attachments.len() + 1);
        if !text.is_empty() {
            out.push(super::verbs::message(text, kind, reply_to, thread.clone()));
        }
        for a in attachments {
            let (bytes, fetched_type) = self
                .http
                .fetch_url(&a.url, self.cfg.max_upload_bytes, FETCH_TIMEOUT)
                .await
                .map_err(|e| format!("the file at {} could not be fetched: {e}", a.url))?;
            let media_type = a
                .media_type
                .clone()
                .or(fetched_type)
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| "application/octet-stream".to_owned());
            let name = a.name.clone().unwrap_or_else(|| name_of(&a.url));
            let size = bytes.len() as u64;
            let mxc = crate::media::upload(&self.http, &self.creds, bytes, &name, &media_type)
                .await
                .map_err(|e| format!("the file {name} could not be uploaded to Matrix: {e}"))?;
            let msgtype = crate::media::message_type(mxc, &name, &media_type, size);
            let mut content = RoomMessageEventContent::new(msgtype);
            content.relates_to = relation(out.is_empty());
            out.push(content);
        }
        Ok(out)
    }
}

/// A file's name from its URL: the last path segment, decoded (`file` when there is none).
fn name_of(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let last = u.path_segments()?.next_back()?.to_owned();
            let decoded = percent_encoding::percent_decode_str(&last).decode_utf8_lossy();
            pontoon_core::upload::clean_name(&decoded)
        })
        .unwrap_or_else(|| "file".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_link() {
        assert_eq!(
            name_of("https://files.example.org/upload/ID/tr%C3%A8s%20cool.jpg"),
            "très cool.jpg"
        );
        assert_eq!(name_of("https://example.org/"), "file");
        assert_eq!(name_of("https://example.org/a/..%2F..%2Fetc"), "etc");
    }
}
