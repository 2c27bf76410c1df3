//! The machine's outgoing requests (key uploads and queries, one-time key claims,
//! to-device messages, signature uploads), sent through the transport's [`Http`] as the
//! ruma requests they are, and their answers handed back to the machine.

use std::time::Duration;

use matrix_sdk_crypto::OlmMachine;
use matrix_sdk_crypto::types::requests::{AnyOutgoingRequest, ToDeviceRequest};
use ruma::TransactionId;
use ruma::api::client::keys::{claim_keys, get_keys};
use ruma::api::client::message::send_message_event;
use ruma::api::client::to_device::send_event_to_device;
use ruma::events::MessageLikeEventContent;
use ruma::serde::Raw;

use super::Error;
use crate::http::Http;

/// How long one key request may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and as whom the machine's requests go.
#[derive(Clone, Debug)]
pub(crate) struct Api {
    pub(crate) http: Http,
    pub(crate) homeserver: String,
    pub(crate) token: String,
}

impl Api {
    /// Sends every request the machine has waiting, and tells it the answers.
    pub(crate) async fn flush(&self, machine: &OlmMachine) -> Result<(), Error> {
        for request in machine.outgoing_requests().await? {
            self.send_one(machine, request.request_id(), request.request())
                .await?;
        }
        Ok(())
    }

    async fn send_one(
        &self,
        machine: &OlmMachine,
        id: &TransactionId,
        request: &AnyOutgoingRequest,
    ) -> Result<(), Error> {
        let (base, token) = (self.homeserver.as_str(), Some(self.token.as_str()));
        match request {
            AnyOutgoingRequest::KeysUpload(r) => {
                let answer = self.http.send(base, token, r.clone(), CALL_TIMEOUT).await?;
                machine.mark_request_as_sent(id, &answer).await?;
            }
            AnyOutgoingRequest::KeysQuery(q) => {
                let mut r = get_keys::v3::Request::new();
                r.device_keys = q.device_keys.clone();
                r.timeout = q.timeout;
                let answer = self.http.send(base, token, r, CALL_TIMEOUT).await?;
                machine.mark_request_as_sent(id, &answer).await?;
            }
            AnyOutgoingRequest::KeysClaim(r) => self.claim(machine, id, r.clone()).await?,
            AnyOutgoingRequest::ToDeviceRequest(r) => self.to_device(machine, r).await?,
            AnyOutgoingRequest::SignatureUpload(r) => {
                let answer = self.http.send(base, token, r.clone(), CALL_TIMEOUT).await?;
                machine.mark_request_as_sent(id, &answer).await?;
            }
            AnyOutgoingRequest::RoomMessage(m) => {
                // In-room verification events; Pontoon starts none, but answers them.
                let content = Raw::new(&*m.content)?.cast_unchecked();
                let r = send_message_event::v3::Request::new_raw(
                    m.room_id.clone(),
                    m.txn_id.clone(),
                    m.content.event_type(),
                    content,
                );
                let answer = self.http.send(base, token, r, CALL_TIMEOUT).await?;
                machine.mark_request_as_sent(id, &answer).await?;
            }
        }
        Ok(())
    }

    /// Claims one-time keys, so Olm sessions with new devices can be made.
    pub(crate) async fn claim(
        &self,
        machine: &OlmMachine,
        id: &TransactionId,
        request: claim_keys::v3::Request,
    ) -> Result<(), Error> {
        let answer = self
            .http
            .send(&self.homeserver, Some(&self.token), request, CALL_TIMEOUT)
            .await?;
        machine.mark_request_as_sent(id, &answer).await?;
        Ok(())
    }

    /// Sends a to-device message (room keys, mostly) to the devices it names.
    pub(crate) async fn to_device(
        &self,
        machine: &OlmMachine,
        request: &ToDeviceRequest,
    ) -> Result<(), Error> {
        let r = send_event_to_device::v3::Request::new_raw(
            request.event_type.clone(),
            request.txn_id.clone(),
            request.messages.clone(),
        );
        let answer = self
            .http
            .send(&self.homeserver, Some(&self.token), r, CALL_TIMEOUT)
            .await?;
        machine
            .mark_request_as_sent(&request.txn_id, &answer)
            .await?;
        Ok(())
    }
}
