#!/usr/bin/env python3
"""A tiny loopback network for Pontoon, written with the pontoon-backend SDK.

The backend process *is* the network's server: XMPP users come through Pontoon (a session
each), the network's own users, *peers*, connect over TCP, and they meet in rooms
(``#name``). Every verb is native: the network gives messages their ids (``m1``...),
which are their stanza-ids on the XMPP side, and corrections, reactions, replies,
retractions and files go as themselves, never as text. Pontoon's conformance suite runs
against it (crates/pontoon-backend/tests/conformance.rs). In pontoon.toml:

    [transports.loopnet]
    kind = "backend"
    command = ["python3", "/path/to/loopnet.py"]
    domain = "loopnet.example.org"
    users_per_process = 0   # the default: one process is the whole network, never split it
    options = { peer_port = "6600" }   # required: peers connect to 127.0.0.1:6600

Without a usable ``peer_port`` it logs why and exits with status 2. The network lives in
the process's memory: a restart empties it.

Peers speak JSON, one object a line (UTF-8, at most 8 KiB). The first line is
``{"nick": "bob"}`` (within 10 s), answered ``{"hello": {"nick": "bob"}}``; then each
request is answered in order, as shown or by ``{"error": "why"}``:

    {"join": "#conf"}                                  {"joined": {"room": "#conf", "members": ["anna", "bob"]}}
    {"part": "#conf"}                                  {"done": {}}
    {"say": {"room", "text", "kind", "reply_to", "files"}}   {"said": {"id": "m7"}}
    {"correct": {"room", "target", "text"}}            {"done": {}}
    {"react": {"room", "target", "emoji", "removed"}}  {"done": {}}
    {"retract": {"room", "target"}}                    {"done": {}}

``kind`` (``text``, ``action`` or ``notice``), ``reply_to`` (a message's id), ``files``
(URLs) and ``removed`` (true takes a reaction back) are optional. Between answers come the
doings of the others in the peer's rooms (never its own):

    {"entered": {"room", "nick"}}    {"left": {"room", "nick"}}
    {"text": {"from", "room", "body", "kind", "id", "reply_to", "files"}}
    {"corrected": {"from", "room", "target", "body"}}
    {"reaction": {"from", "room", "target", "emoji", "removed"}}
    {"retracted": {"from", "room", "target"}}

Only a message's author may correct or retract it; anyone in its room may react to it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import OrderedDict
from typing import Any

from pontoon_backend import AddressRules, Backend, ClientIds, LegacyId, LoginFields, Occupant, RegistrationField
from pontoon_backend import Session
from pontoon_backend import vocabulary as v

log = logging.getLogger("loopnet")

# An example, but anyone who can reach the port is a peer: everything is bounded.
MAX_PEERS, MAX_LINE, MAX_ROOMS = 32, 8 * 1024, 16  # connections; bytes a line; rooms a member
MAX_TEXT, MAX_FILES = 4000, 4  # characters a message; files a message
REMEMBERED = 1000  # the latest messages, which later verbs can name
MAX_BACKLOG = 256 * 1024  # bytes waiting for a peer that does not read: it is dropped
NICK = re.compile(r"[A-Za-z0-9_-]{1,32}")  # a peer's (users' nicks come from XMPP as they are)
ROOM = re.compile(r"#[a-z0-9_-]{1,32}")  # the core folds rooms' names to lower case first
URL = re.compile(r"https?://\S{1,2000}")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # no XML can carry them
KINDS = ("text", "action", "notice")
# What the network carries natively, told to the core at each login: any verb not here,
# the core would write as text ("(correction) ...") or refuse.
VERBS = {"corrections": True, "reactions": True, "replies": True, "retractions": True, "files": True}


class Refused(Exception):
    """What the network does not do; the text says why, `error` what for a join (the
    vocabulary's ``RoomError``, which the core makes the client's MUC error)."""

    def __init__(self, why: str, error: v.RoomError = "other") -> None:
        super().__init__(why)
        self.error = error


class Peer:
    """Someone connected over TCP."""

    def __init__(self, nick: str, writer: asyncio.StreamWriter) -> None:
        self.nick, self.writer = nick, writer
        self.rooms: dict[str, str] = {}  # room -> nick there (always `nick`)

    def send(self, line: dict[str, Any]) -> None:
        if self.writer.transport.get_write_buffer_size() > MAX_BACKLOG and not self.writer.is_closing():
            log.warning("peer %s does not read; dropped", self.nick)
            self.writer.close()  # its reader then ends: it leaves its rooms
        if not self.writer.is_closing():
            self.writer.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")


Member = Session | Peer  # who is in a room: a user's session, or a peer


def rooms_of(member: Member) -> dict[str, str]:
    return member.rooms if isinstance(member, Peer) else member.data["rooms"]


def text(value: Any, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or CONTROL.search(value):
        raise Refused(f"not a text of 1 to {limit} characters without control characters")
    return value


def files_of(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > MAX_FILES or not all(isinstance(u, str) and URL.fullmatch(u)
                                                                         for u in value):
        raise Refused(f"files are at most {MAX_FILES} http(s) URLs")
    return value


class LoopNet(Backend):
    gateway_type = "loopnet"
    registration_instructions = "Any user name will do: in a room, you are the nick you join it with."
    registration_fields = (RegistrationField("username", "User name", "text", required=True),)
    login_fields = LoginFields(secret=None)  # no passwords here
    prompt = "This network has rooms only: join #anything."
    # Rooms only: a direct message fails (the SDK's default send_message refuses it).
    addresses = AddressRules(case="ascii_lowercase", room=ROOM.pattern)

    def __init__(self) -> None:
        super().__init__()
        self.rooms: dict[str, dict[str, Member]] = {}  # room -> nick -> who
        self.messages: OrderedDict[str, tuple[str, Member | None]] = OrderedDict()  # id -> (room, author)
        self.last_id = 0
        self.peers: dict[str, Peer] = {}
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def started(self) -> None:
        # The core welcomed the backend: the operator's options are in self.options.
        port = self.options.get("peer_port", "")
        try:
            if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
                raise ValueError("missing, or not a port")
            self.server = await asyncio.start_server(self.serve_peer, "127.0.0.1", int(port), limit=MAX_LINE)
        except (ValueError, OSError) as e:
            log.error("cannot listen for peers on 127.0.0.1 at the option peer_port, %r: %s", port, e)
            raise SystemExit(2) from e
        log.info("listening for peers on 127.0.0.1:%s", port)

    async def stopping(self) -> None:
        # Pontoon is stopping this backend: the network closes, its peers with it.
        if self.server is not None:
            self.server.close()
        for peer in list(self.peers.values()):
            peer.writer.close()

    # -- The network: rooms, messages, and who learns what.

    def tell(self, room: str, event: v.Event, line: dict[str, Any], skip: Member | None = None) -> None:
        """Everyone in `room` but `skip` learns something: users as the vocabulary's
        `event` (through Pontoon), peers as the protocol's `line`."""
        for member in list(self.rooms.get(room, {}).values()):
            if isinstance(member, Peer) and member is not skip:
                member.send(line)
            elif isinstance(member, Session) and member is not skip:
                member.event(event)

    def enter(self, room: str, nick: str, member: Member) -> None:
        if self.rooms.get(room, {}).get(nick, member) is not member:
            raise Refused(f"{nick} is taken in {room}", "nick_in_use")
        if room not in rooms_of(member) and len(rooms_of(member)) >= MAX_ROOMS:
            raise Refused(f"in {MAX_ROOMS} rooms already", "too_many_rooms")
        if rooms_of(member).get(room, nick) != nick:
            self.leave(room, member)  # in it already, under another nick
        if nick not in self.rooms.setdefault(room, {}):
            self.rooms[room][nick] = member
            self.tell(room, v.occupant_updated(room, Occupant(nick)), {"entered": {"room": room, "nick": nick}}, member)
        rooms_of(member)[room] = nick

    def leave(self, room: str, member: Member) -> None:
        if (nick := rooms_of(member).pop(room, None)) is not None:
            del self.rooms[room][nick]
            self.tell(room, v.occupant_left(room, nick), {"left": {"room": room, "nick": nick}})
            if not self.rooms[room]:
                del self.rooms[room]

    def post(self, room: str, author: Member, body: str, kind: Any, reply_to: Any,
             files: list[str]) -> tuple[str, str | None]:
        """A new message by `author` in `room`, told to the others: its id, and what it
        replies to (a message of the room, else nothing)."""
        if kind not in KINDS:
            raise Refused(f"a kind is one of {KINDS}")
        reply_to = reply_to if isinstance(reply_to, str) and self.messages.get(reply_to, ("",))[0] == room else None
        self.last_id += 1
        id = f"m{self.last_id}"
        self.messages[id] = (room, author)
        if len(self.messages) > REMEMBERED:
            self.messages.popitem(last=False)
        nick = rooms_of(author)[room]
        self.tell(room, v.room_message(room, nick, with_urls(body, files), kind=kind, id=id, reply_to=reply_to,
                                       attachments=[{"url": url} for url in files]),
                  {"text": {"from": nick, "room": room, "body": body, "kind": kind, "id": id, "reply_to": reply_to,
                            "files": files}}, author)
        return id, reply_to

    def act(self, member: Member, room: str, verb: str, target: Any, body: str = "", kind: str = "text",
            reactions: tuple[tuple[str, bool], ...] = ()) -> None:
        """`member` corrects, reacts to or retracts the message `target` in `room`."""
        nick, chat = rooms_of(member)[room], v.room_chat(room)
        message = self.messages.get(target, ("", None)) if isinstance(target, str) else ("", None)
        if message[0] != room:
            raise Refused(f"no message {target} in {room}")
        if verb != "react" and message[1] is not member:
            raise Refused("only its author may do that, and not once it is retracted")
        if verb == "correct":
            self.tell(room, v.corrected(chat, nick, target, body, kind=kind),
                      {"corrected": {"from": nick, "room": room, "target": target, "body": body}}, member)
        elif verb == "retract":
            self.messages[target] = (room, None)  # a tombstone: reactions still name it, nobody edits it
            self.tell(room, v.retracted(chat, nick, target),
                      {"retracted": {"from": nick, "room": room, "target": target}}, member)
        for emoji, removed in reactions:
            self.tell(room, v.reaction(chat, nick, target, emoji, removed=removed),
                      {"reaction": {"from": nick, "room": room, "target": target, "emoji": emoji, "removed": removed}},
                      member)

    # -- XMPP users, through Pontoon: the SDK's handlers.

    async def login(self, session: Session) -> None:
        session.data["rooms"] = {}  # room -> the user's nick there
        session.connected()
        session.event(v.verbs(**VERBS))

    async def logout(self, session: Session) -> None:
        for room in list(session.data.get("rooms", ())):
            self.leave(room, session)

    async def join_room(self, session: Session, room: LegacyId, nick: str, password: str | None, **extra: Any) -> None:
        try:
            self.enter(room.name, text(nick, 32), session)
        except Refused as e:
            session.event(v.room_join_failed(room, e.error, str(e)))  # the client gets a MUC error
            return
        session.room_joined(room, nick, [Occupant(n) for n in self.rooms[room.name]])

    async def leave_room(self, session: Session, room: LegacyId, reason: str | None, **extra: Any) -> None:
        self.leave(room.name, session)

    async def send_room_message(self, session: Session, room: LegacyId, body: str, ids: ClientIds,
                                **extra: Any) -> None:
        # Raising fails it: the SDK tells the core, whose user gets an error for the message.
        if (nick := session.data["rooms"].get(room.name)) is None:
            raise LookupError(f"you are not in {room.name}")
        files = files_of([a["url"] for a in extra.get("attachments") or []])
        kind = extra.get("kind", "text")
        id, reply_to = self.post(room.name, session, text(body), kind, extra.get("reply_to"), files)
        # The reflection carries the ids the client gave the message, so that it knows its
        # own, and the network's id, which is its stanza-id, for later verbs to name.
        session.room_message(room, nick, with_urls(body, files), kind=kind, ids=ids, id=id, reply_to=reply_to,
                             attachments=[{"url": url} for url in files])

    async def command(self, session: Session, name: str, payload: dict[str, Any]) -> None:
        # Commands without a handler of their own in the SDK, the verbs among them.
        if name not in ("correct", "react", "retract"):
            await super().command(session, name, payload)
            return
        chat, target = payload["chat"], payload["target"]
        reactions = [(e, False) for e in payload.get("added", [])] + [(e, True) for e in payload.get("removed", [])]
        try:
            if (room := chat.get("room", {}).get("name")) not in session.data["rooms"]:
                raise Refused("only messages in the rooms you are in")
            self.act(session, room, name, target, payload.get("body", ""), payload.get("kind", "text"),
                     tuple(reactions))
        except Refused as e:  # the user reads why, in the room
            session.event(v.verb_refused(chat, target, str(e)))

    # -- Peers, over TCP.

    async def serve_peer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer, self.connections = None, self.connections + 1
        try:
            if self.connections > MAX_PEERS:
                raise Refused("the network is full")
            nick = json.loads(await asyncio.wait_for(reader.readline(), 10)).get("nick")
            if not isinstance(nick, str) or not NICK.fullmatch(nick) or nick in self.peers:
                raise Refused("the first line is {\"nick\": ...}, a free nick of letters, digits, _ and -")
            peer = self.peers[nick] = Peer(nick, writer)
            peer.send({"hello": {"nick": nick}})
            while line := await reader.readline():
                if line.strip():
                    peer.send(self.request(peer, line))
        except (Refused, ValueError, AttributeError, RecursionError, TimeoutError) as e:  # ValueError: too long
            writer.write(json.dumps({"error": str(e) or type(e).__name__}).encode() + b"\n")
        except (ConnectionError, asyncio.CancelledError):
            pass  # gone; or the backend is ending (cancelled: ended here, as Python 3.11's streams need)
        finally:
            self.connections -= 1
            if peer is not None:
                for room in list(peer.rooms):
                    self.leave(room, peer)
                del self.peers[peer.nick]
            writer.close()

    def request(self, peer: Peer, line: bytes) -> dict[str, Any]:
        """Carries out one of `peer`'s requests: its answer."""
        try:
            ((verb, arg),) = json.loads(line).items()
            if verb in ("join", "part"):
                if not isinstance(arg, str) or not ROOM.fullmatch(arg):
                    raise Refused(f"a room is {ROOM.pattern}")
                if verb == "join":
                    self.enter(arg, peer.nick, peer)
                    return {"joined": {"room": arg, "members": list(self.rooms[arg])}}
                self.leave(arg, peer)
            elif (room := arg["room"]) not in peer.rooms:
                raise Refused(f"you are not in {room}")
            elif verb == "say":
                id, _ = self.post(room, peer, text(arg["text"]), arg.get("kind", "text"), arg.get("reply_to"),
                                  files_of(arg.get("files", [])))
                return {"said": {"id": id}}
            elif verb in ("correct", "retract"):
                self.act(peer, room, verb, arg["target"], text(arg["text"]) if verb == "correct" else "")
            elif verb == "react":
                reaction = (text(arg["emoji"], 32), arg.get("removed") is True)
                self.act(peer, room, verb, arg["target"], reactions=(reaction,))
            else:
                raise Refused(f"no request {verb}")
            return {"done": {}}
        except Refused as e:
            return {"error": str(e)}
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
            return {"error": f"not a request as the protocol has them ({type(e).__name__}: {e})"}


def with_urls(body: str, files: list[str]) -> str:
    # For XMPP clients that show no files, the body says their URLs too.
    return "\n".join([body, *(url for url in files if url not in body)])


if __name__ == "__main__":
    LoopNet.main()
