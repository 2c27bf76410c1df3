"""The Matrix side of a test: a user of the test's Synapse, driven by matrix-nio.

A MatrixUser is logged in with its password (as Element would be) and keeps a /sync
long-poll running in the background, recording every timeline event and invite it sees, so
a test can wait (bounded) for what a Matrix user would see. The helpers do what Element
does for the same action (a DM is an is_direct invite plus the m.direct account data).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    Event,
    JoinError,
    LoginResponse,
    RoomCreateError,
    RoomMessageText,
    RoomPreset,
    RoomSendResponse,
    RoomVisibility,
    SyncResponse,
)

from .synapse import Synapse


# Long-poll of the background sync (ms): short enough that a stopped Synapse is noticed soon.
SYNC_POLL_MS = 5000
WAIT_TIMEOUT = 15.0


def unique_localpart(prefix: str = "user") -> str:
    """A fresh Matrix localpart (lower case, as Synapse requires): prefix-<8 hex digits>, so
    tests sharing one Synapse never meet each other's users."""
    return f"{prefix.lower()}-{secrets.token_hex(4)}"


def client_config() -> AsyncClientConfig:
    """Retries a refused connection (Synapse restarting) every half second at most instead of
    backing off up to a minute, so a test sees a restarted homeserver promptly; a 429 is
    returned as an error instead of being waited out silently."""
    return AsyncClientConfig(max_timeout_retry_wait_time=0.5, request_timeout=30, max_limit_exceeded=0,
                             store_sync_tokens=False, encryption_enabled=False)


class MatrixError(RuntimeError):
    pass


def ok(resp, what: str):
    """The response, or MatrixError if the homeserver refused (with its errcode and message)."""
    if isinstance(resp, ErrorResponse):
        raise MatrixError(f"{what}: {resp.status_code} {resp.message}")
    return resp


@dataclass
class Seen:
    """One timeline event as the sync delivered it."""
    room_id: str
    event: Event


class MatrixUser:
    """A logged-in Matrix user with a background sync. Use login() to make one."""

    def __init__(self, client: AsyncClient, password: str):
        self.client = client
        self.password = password
        self.events: list[Seen] = []
        self.ephemeral: list[Seen] = []  # typing and receipts (nio's TypingNoticeEvent, ReceiptEvent)
        self.invites: dict[str, list] = {}  # room id -> invite_state events
        self.sync_errors: list[str] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    @property
    def user_id(self) -> str:
        return self.client.user_id

    # --- sync ------------------------------------------------------------------------

    async def start_sync(self) -> None:
        """One initial sync (the rooms and history so far), then the background long-poll."""
        self._record(ok(await self.client.sync(timeout=0, full_state=True), f"first sync of {self.user_id}"))
        self._task = asyncio.create_task(self._sync_loop(), name=f"sync {self.user_id}")

    async def _sync_loop(self) -> None:
        while True:
            resp = await self.client.sync(timeout=SYNC_POLL_MS)
            if isinstance(resp, SyncResponse):
                self._record(resp)
            else:
                # nio retries refused connections itself; an error answer (e.g. 5xx while
                # Synapse shuts down) is noted and retried after a pause.
                self.sync_errors.append(f"{resp.status_code} {resp.message}")
                await asyncio.sleep(0.2)

    def _record(self, resp: SyncResponse) -> None:
        for room_id, info in resp.rooms.join.items():
            self.events.extend(Seen(room_id, ev) for ev in info.timeline.events)
            self.ephemeral.extend(Seen(room_id, ev) for ev in info.ephemeral)
        for room_id, info in resp.rooms.invite.items():
            self.invites[room_id] = info.invite_state
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], object], timeout: float = WAIT_TIMEOUT,
                       what: str = "condition"):
        """Waits (bounded) until predicate() is truthy after a sync; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            self._changed.clear()
            value = predicate()
            if value:
                return value
            if self._task is not None and self._task.done():
                raise MatrixError(f"the sync of {self.user_id} stopped: {self._task.exception()!r}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.user_id}: timed out after {timeout:.1f} s waiting for {what}")
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except TimeoutError:
                pass

    def mark(self) -> int:
        """A position in the events seen so far, for waits that must only count later ones."""
        return len(self.events)

    async def wait_event(self, predicate: Callable[[Seen], bool], timeout: float = WAIT_TIMEOUT,
                         since: int = 0, what: str = "an event") -> Seen:
        """The first event seen (from position `since`) for which predicate holds."""
        def find():
            return next((s for s in self.events[since:] if predicate(s)), None)
        return await self.wait_for(find, timeout, what)

    async def wait_message(self, room_id: str, body: str, timeout: float = WAIT_TIMEOUT,
                           since: int = 0, sender: str | None = None) -> RoomMessageText:
        """Waits until a text message (m.text, m.notice or m.emote) with exactly this body
        arrives in the room; returns the event (sender, event_id, formatted_body...)."""
        seen = await self.wait_event(
            lambda s: s.room_id == room_id and isinstance(s.event, RoomMessageText) and s.event.body == body
            and (sender is None or s.event.sender == sender),
            timeout, since, what=f"message {body!r} in {room_id}")
        return seen.event

    async def history(self, room_id: str, limit: int = 100) -> list[RoomMessageText]:
        """The room's last `limit` text messages from the server (GET /messages, newest
        page backwards), oldest first: what a fresh login would scroll back to."""
        resp = ok(await self.client.room_messages(room_id, start=None, limit=limit),
                  f"{self.user_id} reading the history of {room_id}")
        return [e for e in reversed(resp.chunk) if isinstance(e, RoomMessageText)]

    def messages(self, room_id: str) -> list[RoomMessageText]:
        """The text messages seen in the room so far, in order."""
        return [s.event for s in self.events if s.room_id == room_id and isinstance(s.event, RoomMessageText)]

    async def wait_invite(self, room_id: str | None = None, timeout: float = WAIT_TIMEOUT) -> str:
        """Waits for an invite (to room_id, or any); returns the room id."""
        def find():
            if room_id is not None:
                return room_id if room_id in self.invites else None
            return next(iter(self.invites), None)
        return await self.wait_for(find, timeout, what=f"an invite to {room_id or 'a room'}")

    # --- actions ---------------------------------------------------------------------

    async def create_room(self, name: str | None = None, invite: list[str] = (), alias: str | None = None,
                          public: bool = False, topic: str | None = None) -> str:
        """Creates a room (private chat, or public chat when public=True); returns its id."""
        resp = await self.client.room_create(
            visibility=RoomVisibility.public if public else RoomVisibility.private,
            alias=alias, name=name, topic=topic, invite=list(invite),
            preset=RoomPreset.public_chat if public else RoomPreset.private_chat)
        return ok(resp, f"{self.user_id} creating room {name or ''}").room_id

    async def create_dm(self, other: str) -> str:
        """Opens a direct chat with `other` as Element does: a trusted_private_chat room with
        is_direct, the other invited, and the room added to this user's m.direct account data.
        Returns the room id (unencrypted: the Python peer has no olm)."""
        resp = await self.client.room_create(is_direct=True, preset=RoomPreset.trusted_private_chat,
                                             invite=[other])
        if isinstance(resp, RoomCreateError):
            raise MatrixError(f"{self.user_id} opening a DM with {other}: {resp.status_code} {resp.message}")
        await self.mark_direct(resp.room_id, other)
        return resp.room_id

    async def mark_direct(self, room_id: str, other: str) -> None:
        """Adds room_id to m.direct[other] in this user's account data (what Element does when
        it creates or accepts a DM)."""
        direct = await self.account_data("m.direct") or {}
        rooms = direct.setdefault(other, [])
        if room_id not in rooms:
            rooms.append(room_id)
        await self.set_account_data("m.direct", direct)

    async def account_data(self, kind: str) -> dict | None:
        """GET the user's global account data of this type; None if it was never set."""
        status, body = await self.api("GET", f"/_matrix/client/v3/user/{q(self.user_id)}/account_data/{q(kind)}")
        if status == 404:
            return None
        if status != 200:
            raise MatrixError(f"GET account data {kind}: {status} {body}")
        return body

    async def set_account_data(self, kind: str, content: dict) -> None:
        status, body = await self.api("PUT", f"/_matrix/client/v3/user/{q(self.user_id)}/account_data/{q(kind)}",
                                      content)
        if status != 200:
            raise MatrixError(f"PUT account data {kind}: {status} {body}")

    async def join(self, room: str) -> str:
        """Joins a room by id or alias (accepting an invite); returns the room id."""
        resp = await self.client.join(room)
        if isinstance(resp, JoinError):
            raise MatrixError(f"{self.user_id} joining {room}: {resp.status_code} {resp.message}")
        self.invites.pop(resp.room_id, None)
        return resp.room_id

    async def send_text(self, room_id: str, body: str, msgtype: str = "m.text", **extra) -> str:
        """Sends a message (m.text by default; extra keys go into the content, e.g.
        format/formatted_body or m.relates_to); returns its event id."""
        content = {"msgtype": msgtype, "body": body, **extra}
        resp = await self.client.room_send(room_id, "m.room.message", content)
        if not isinstance(resp, RoomSendResponse):
            raise MatrixError(f"{self.user_id} sending to {room_id}: {resp.status_code} {resp.message}")
        return resp.event_id

    async def api(self, method: str, path: str, body: dict | None = None, data: bytes | None = None,
                  content_type: str = "application/json") -> tuple[int, dict]:
        """A raw client-server API call as this user: (status, JSON body), 4xx/5xx included.
        `body` is sent as JSON, or `data` as it is."""
        if body is not None:
            data = json.dumps(body).encode()
        resp = await self.client.send(method, path, data,
                                      headers={"Authorization": f"Bearer {self.client.access_token}",
                                               "Content-Type": content_type})
        async with resp:
            try:
                data = await resp.json(content_type=None)
            except ValueError:
                data = {"raw": await resp.text()}
        return resp.status, data if isinstance(data, dict) else {"value": data}

    async def upload(self, data: bytes, filename: str,
                     content_type: str = "application/octet-stream") -> tuple[int, dict]:
        """POST /_matrix/media/v3/upload: (status, body), content_uri in it on success."""
        return await self.api("POST", f"/_matrix/media/v3/upload?filename={q(filename)}", data=data,
                              content_type=content_type)

    async def download(self, mxc: str) -> tuple[int, bytes]:
        """The authenticated media download (GET /_matrix/client/v1/media/download/...):
        (status, bytes)."""
        server, media_id = mxc.removeprefix("mxc://").split("/", 1)
        resp = await self.client.send(
            "GET", f"/_matrix/client/v1/media/download/{q(server)}/{q(media_id)}",
            headers={"Authorization": f"Bearer {self.client.access_token}"})
        async with resp:
            return resp.status, await resp.read()

    async def close(self) -> None:
        """Stops the sync and closes the HTTP session (the device stays logged in)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - ending anyway
                pass
            self._task = None
        await self.client.close()


def q(segment: str) -> str:
    """One percent-encoded URL path segment."""
    return quote(segment, safe="")


async def login(synapse: Synapse, localpart: str, password: str, device_name: str = "e2e",
                sync: bool = True) -> MatrixUser:
    """Logs a user in with its password through nio; with sync, the background sync runs."""
    client = AsyncClient(synapse.url, synapse.user_id(localpart), config=client_config())
    try:
        resp = await client.login(password, device_name=device_name)
        if not isinstance(resp, LoginResponse):
            raise MatrixError(f"login of {localpart}: {resp.status_code} {resp.message}")
        user = MatrixUser(client, password)
        if sync:
            await user.start_sync()
        return user
    except BaseException:
        await client.close()
        raise


async def register_and_login(synapse: Synapse, prefix: str = "user", password: str | None = None,
                             displayname: str | None = None, sync: bool = True) -> MatrixUser:
    """A fresh user (unique localpart from prefix) registered through the admin API, logged in."""
    localpart = unique_localpart(prefix)
    password = password or f"pw-{localpart}"
    await asyncio.to_thread(synapse.register, localpart, password, displayname=displayname)
    return await login(synapse, localpart, password, sync=sync)
