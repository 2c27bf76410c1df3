"""A Matrix user with end-to-end encryption, for the encrypted-room tests: matrix-nio's [e2e]
extra (Olm/Megolm through the vodozemac Python bindings, a wheel on PyPI: no libolm to build),
its keys in a per-user directory of the test. The background sync also does what Element
does between syncs: upload its keys, query others', claim one-time keys, send to-device
messages."""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import vodozemac
from nio import AsyncClient, AsyncClientConfig, LoginResponse, RoomCreateError, RoomPreset, RoomSendResponse
from nio import EnableEncryptionBuilder, SyncResponse

from .matrix import SYNC_POLL_MS, MatrixError, MatrixUser, ok, q, unique_localpart
from .synapse import Synapse

MEGOLM = "m.megolm.v1.aes-sha2"


class EncryptedMatrixUser(MatrixUser):
    """A MatrixUser whose client takes part in Olm/Megolm: messages it receives in encrypted
    rooms arrive decrypted (RoomMessageText, `.decrypted` set) and send_text encrypts."""

    async def keep_keys(self) -> None:
        """Between syncs: upload, query and claim keys, send waiting to-device messages."""
        c = self.client
        if c.should_upload_keys:
            ok(await c.keys_upload(), f"{self.user_id} uploading keys")
        if c.should_query_keys:
            ok(await c.keys_query(), f"{self.user_id} querying keys")
        if c.should_claim_keys:
            ok(await c.keys_claim(c.get_users_for_key_claiming()), f"{self.user_id} claiming keys")
        await c.send_to_device_messages()

    async def start_sync(self) -> None:
        await self.keep_keys()
        await super().start_sync()
        await self.keep_keys()

    async def _sync_loop(self) -> None:
        while True:
            resp = await self.client.sync(timeout=SYNC_POLL_MS)
            if isinstance(resp, SyncResponse):
                self._record(resp)
                await self.keep_keys()
            else:
                self.sync_errors.append(f"{resp.status_code} {resp.message}")
                await asyncio.sleep(0.2)

    async def create_encrypted_dm(self, other: str) -> str:
        """A direct chat as Element makes it: trusted_private_chat, is_direct, `other`
        invited, m.room.encryption (Megolm) in its initial state, and in m.direct."""
        resp = await self.client.room_create(is_direct=True, preset=RoomPreset.trusted_private_chat,
                                             invite=[other], initial_state=[EnableEncryptionBuilder().as_dict()])
        if isinstance(resp, RoomCreateError):
            raise MatrixError(f"{self.user_id} opening an encrypted DM with {other}: {resp.message}")
        await self.mark_direct(resp.room_id, other)
        return resp.room_id

    async def send_text(self, room_id: str, body: str, msgtype: str = "m.text", **extra) -> str:
        """Sends a message, encrypted in an encrypted room (to unverified devices too, as
        Element does by default); returns its event id."""
        content = {"msgtype": msgtype, "body": body, **extra}
        resp = await self.client.room_send(room_id, "m.room.message", content, ignore_unverified_devices=True)
        if not isinstance(resp, RoomSendResponse):
            raise MatrixError(f"{self.user_id} sending to {room_id}: {resp.status_code} {resp.message}")
        return resp.event_id

    async def send_without_sharing_the_key(self, room_id: str, body: str) -> str:
        """Sends a message encrypted with a fresh Megolm session whose key goes to nobody
        (what a device that lost its to-device messages would leave); returns its event id."""
        event_id, _ = await self.send_with_a_late_key(room_id, body)
        return event_id

    async def send_with_a_late_key(self, room_id: str, body: str) -> tuple[str, dict]:
        """Like send_without_sharing_the_key, and answers the room key as it was before the
        message (an m.room_key's content), for share_room_key to send later."""
        session = vodozemac.GroupSession()
        key = {"algorithm": MEGOLM, "room_id": room_id, "session_id": session.session_id,
               "session_key": session.session_key.to_base64()}
        payload = {"type": "m.room.message", "room_id": room_id, "content": {"msgtype": "m.text", "body": body}}
        content = {
            "algorithm": MEGOLM,
            "sender_key": self.client.olm.account.identity_keys["curve25519"],
            "ciphertext": session.encrypt(json.dumps(payload).encode()).to_base64(),
            "session_id": session.session_id,
            "device_id": self.client.device_id,
        }
        status, answer = await self.api(
            "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/send/m.room.encrypted/{secrets.token_hex(8)}", content)
        if status != 200:
            raise MatrixError(f"{self.user_id} sending an undecryptable message: {status} {answer}")
        return answer["event_id"], key

    async def share_room_key(self, user_id: str, key: dict) -> None:
        """Sends the room key `key` to every device of `user_id` this client has an Olm
        session with (one message each way since, as any encrypted chat has), Olm-encrypted
        as the sender's device shares it (a late m.room_key)."""
        olm = self.client.olm
        messages = {}
        for device in olm.device_store.active_user_devices(user_id):
            session = olm.session_store.get(device.curve25519)
            if session is not None:
                messages[device.id] = olm._olm_encrypt(session, device, "m.room_key", key)
        assert messages, f"no Olm session with a device of {user_id}"
        status, answer = await self.api(
            "PUT", f"/_matrix/client/v3/sendToDevice/m.room.encrypted/{secrets.token_hex(8)}",
            {"messages": {user_id: messages}})
        if status != 200:
            raise MatrixError(f"{self.user_id} sharing a room key: {status} {answer}")


async def register_encrypted(synapse: Synapse, store: Path, prefix: str = "user") -> EncryptedMatrixUser:
    """A fresh user (unique localpart) with an encrypting client whose keys live in `store`,
    logged in, its sync and key upkeep running."""
    localpart = unique_localpart(prefix)
    password = f"pw-{localpart}"
    await asyncio.to_thread(synapse.register, localpart, password)
    store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(max_timeout_retry_wait_time=0.5, request_timeout=30, max_limit_exceeded=0,
                               store_sync_tokens=False, encryption_enabled=True)
    client = AsyncClient(synapse.url, synapse.user_id(localpart), store_path=str(store), config=config)
    try:
        resp = await client.login(password, device_name="e2e encrypted")
        if not isinstance(resp, LoginResponse):
            raise MatrixError(f"login of {localpart}: {resp.status_code} {resp.message}")
        user = EncryptedMatrixUser(client, password)
        await user.start_sync()
        return user
    except BaseException:
        await client.close()
        raise
