"""The parts of Pontoon's vocabulary a backend handles most, as Python types, and builders
for the events it sends.

The whole vocabulary is ``docs/backends/protocol.schema.json``. As JSON, an enum is
externally tagged in snake case: a variant without fields is a plain string
(``"connected"``), any other an object with one key (``{"notice": {"text": "hi"}}``).
Every builder here returns exactly that JSON; :meth:`pontoon_backend.Session.event` sends
any of them, or one written by hand for the events without a builder.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .protocol import Json

VOCABULARY_VERSION = 2
"""The version of the vocabulary this SDK speaks."""

Event = Json | str
"""A vocabulary event: ``"connected"`` or ``{"message": {...}}``."""

Availability = Literal["available", "away", "extended_away", "do_not_disturb", "chat", "offline"]
Role = Literal["moderator", "participant", "visitor"]
Affiliation = Literal["owner", "admin", "member", "none"]
MessageKind = Literal["text", "action", "notice"]
RoomError = Literal[
    "banned", "full", "invite_only", "bad_key", "nick_in_use", "not_found", "too_many_rooms", "busy", "other"
]
SendError = Literal["refused", "busy", "unreachable"]
FieldKind = Literal["text", "password", "boolean"]
Case = Literal["exact", "ascii_lowercase", "lowercase"]


@dataclass(frozen=True, slots=True)
class LegacyId:
    """A contact's or room's address on the network: its name as the network spells it,
    and, for a backend that reaches several networks, which one (no ``%`` in it)."""

    name: str
    network: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> LegacyId:
        """Reads ``{"name": ..., "network": ...}``, the network null or left out."""
        return cls(str(value["name"]), value.get("network"))

    def to_json(self) -> Json:
        # The schema's `network` is a string: with no network, it is left out, not null.
        return {"name": self.name} if self.network is None else {"name": self.name, "network": self.network}

    def __str__(self) -> str:
        return self.name if self.network is None else f"{self.name}%{self.network}"


class _Record:
    """A dataclass written as JSON field by field."""

    __slots__ = ()

    def to_json(self) -> Json:
        data: Json = asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass
        return data


Address = LegacyId | str
"""A :class:`LegacyId`, or just its name (a backend with one network)."""


def _id(address: Address) -> Json:
    return (LegacyId(address) if isinstance(address, str) else address).to_json()


@dataclass(frozen=True, slots=True)
class Account:
    """The registration a session logs in with: the ``login`` fields of the form (see
    :class:`LoginFields`) as ``legacy_id`` and ``secret``, the others as ``options``."""

    legacy_id: str
    secret: str | None
    options: Mapping[str, str]

    @classmethod
    def from_json(cls, value: Any) -> Account:
        """Reads a ``LegacyAccount``."""
        return cls(str(value["legacy_id"]), value.get("secret"), dict(value.get("options") or {}))

    def __repr__(self) -> str:
        # Like the core's, never shows the secret (tracebacks and logs print reprs).
        return f"Account(legacy_id={self.legacy_id!r}, secret=<redacted>, options={dict(self.options)!r})"


@dataclass(frozen=True, slots=True)
class ClientIds(_Record):
    """The ids a user's XMPP client gave a room message: handed back untouched in its
    reflection (:func:`room_message`), so the client recognises its own message."""

    id: str | None = None
    origin_id: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> ClientIds:
        """Reads ``{"id": ..., "origin_id": ...}`` (either null or left out)."""
        value = value or {}
        return cls(value.get("id"), value.get("origin_id"))


@dataclass(frozen=True, slots=True)
class Occupant:
    """Someone in a room. `person` is who they are beyond the nick, where the network
    says (a Matrix user id)."""

    nick: str
    role: Role = "participant"
    affiliation: Affiliation = "none"
    person: str | None = None

    def to_json(self) -> Json:
        return _fields(nick=self.nick, role=self.role, affiliation=self.affiliation, person=self.person)


@dataclass(frozen=True, slots=True)
class Contact:
    """Someone on the user's contact list of the network."""

    id: Address
    name: str | None = None
    avatar: str | None = None

    def to_json(self) -> Json:
        return _fields(id=_id(self.id), name=self.name, avatar=self.avatar)


@dataclass(frozen=True, slots=True)
class RegistrationField(_Record):
    """One field of the registration form (``var`` is also the account's option name)."""

    var: str
    label: str
    kind: FieldKind = "text"
    required: bool = False


@dataclass(frozen=True, slots=True)
class TransportCommand(_Record):
    """A command the user can type to the transport's JID, for the help text."""

    name: str
    help: str


@dataclass(frozen=True, slots=True)
class Descriptor(_Record):
    """What the transport says of itself: its disco identity ``gateway/<gateway_type>``,
    registration form and prompt. Settings are ``SettingSpec`` objects, as the schema
    has them."""

    gateway_type: str
    registration_instructions: str
    registration_fields: Sequence[RegistrationField]
    prompt: str
    commands: Sequence[TransportCommand] = ()
    network_settings: Sequence[Json] = ()
    room_settings: Sequence[Json] = ()
    one_network: bool = False


@dataclass(frozen=True, slots=True)
class AddressRules(_Record):
    """How the core tells rooms from contacts and normalises both, without asking the
    backend: patterns (Rust ``regex`` syntax) match whole names after case folding;
    `occupant_contact` is the contact behind a room's occupant (``{nick}``,
    ``{room}/{nick}``), or ``None`` if occupants cannot be messaged privately."""

    case: Case = "exact"
    max_length: int = 255
    contact: str | None = None
    room: str | None = None
    occupant_contact: str | None = None


@dataclass(frozen=True, slots=True)
class LoginFields(_Record):
    """Which registration fields become the account's ``legacy_id`` and ``secret``."""

    id: str = "username"
    secret: str | None = "password"


def _fields(**fields: Any) -> Json:
    # Every optional field of the vocabulary defaults to null/absent: leave out the Nones.
    return {k: v for k, v in fields.items() if v is not None}


def _event(tag: str, **fields: Any) -> Json:
    return {tag: _fields(**fields)}


# Builders of events, by name as in the vocabulary. Extra keyword arguments are passed as
# they are, for the fields without a parameter (``thread=``, ``attachments=``, ``by_user=``).

def connected() -> Event:
    """Login succeeded (or, after ``reconnecting``, the connection is back)."""
    return "connected"


def login_failed(reason: str) -> Event:
    """Login failed; the session is over and `reason` is shown to the user."""
    return _event("login_failed", reason=reason)


def unreachable(reason: str) -> Event:
    """The network could not be reached for the login; the session is over."""
    return _event("unreachable", reason=reason)


def disconnected(reason: str) -> Event:
    """The connection ended; the session is over."""
    return _event("disconnected", reason=reason)


def reconnecting(reason: str) -> Event:
    """The connection was lost and the backend is connecting again by itself."""
    return _event("reconnecting", reason=reason)


def notice(text: str) -> Event:
    """Text for the user from the network or the backend."""
    return _event("notice", text=text)


def message(
    from_: Address, body: str, *, kind: MessageKind = "text", id: str | None = None,
    reply_to: str | None = None, time: str | None = None, **extra: Any,
) -> Event:
    """A one-to-one message from contact `from_`; `id` is the network's, `time` RFC 3339."""
    return _event("message", **{"from": _id(from_)}, body=body, kind=kind, id=id, reply_to=reply_to, time=time, **extra)


def send_failed(to: Address, id: str | None, reason: str) -> Event:
    """The message the user sent to `to` with XMPP id `id` could not be delivered."""
    return {"send_failed": {"to": _id(to), "id": id, "reason": reason}}


def contact_list(contacts: Iterable[Contact]) -> Event:
    """The user's whole contact list on the network."""
    return _event("contact_list", contacts=[c.to_json() for c in contacts])


def contact_presence(contact: Address, availability: Availability = "available", status: str | None = None) -> Event:
    """A contact's presence."""
    return _event("contact_presence", contact=_id(contact), availability=availability, status=status)


def room_joined(
    room: Address, nick: str, occupants: Iterable[Occupant], subject: str | None = None, *, name: str | None = None
) -> Event:
    """The user is in `room` as `nick`; `occupants` is everyone there, the user included."""
    everyone = [o.to_json() for o in occupants]
    return _event("room_joined", room=_id(room), name=name, nick=nick, occupants=everyone, subject=subject)


def room_join_failed(room: Address, error: RoomError, text: str) -> Event:
    """Joining `room` failed, for `error` (mapped to the XMPP error) and `text`."""
    return _event("room_join_failed", room=_id(room), error=error, text=text)


def room_message(
    room: Address, nick: str, body: str, *, kind: MessageKind = "text", ids: ClientIds | None = None,
    id: str | None = None, reply_to: str | None = None, time: str | None = None, **extra: Any,
) -> Event:
    """A message in `room` from `nick`. For the user's own message reflected, `ids` are
    the ids their client sent it with (:meth:`Backend.send_room_message`'s); none otherwise."""
    ids_json = (ids or ClientIds()).to_json()
    return _event("room_message", room=_id(room), nick=nick, body=body, kind=kind, ids=ids_json, id=id,
                  reply_to=reply_to, time=time, **extra)


def room_send_failed(room: Address, ids: ClientIds, error: SendError, reason: str) -> Event:
    """The network did not take the user's message to `room` (its client's `ids`)."""
    return _event("room_send_failed", room=_id(room), ids=ids.to_json(), error=error, reason=reason)


def occupant_left(room: Address, nick: str, kind: Event = "part", reason: str | None = None) -> Event:
    """`nick` left `room` (``"part"``, ``"quit"``, ``{"kick": {"by": ...}}``...)."""
    return _event("occupant_left", room=_id(room), nick=nick, kind=kind, reason=reason)


def occupant_updated(room: Address, occupant: Occupant) -> Event:
    """`occupant` joined `room`, or their role changed."""
    return _event("occupant_updated", room=_id(room), occupant=occupant.to_json())


def room_chat(room: Address) -> Json:
    """The chat of `room`, as the verbs name it (``{"room": {...}}``)."""
    return {"room": _id(room)}


def contact_chat(contact: Address) -> Json:
    """The direct chat with `contact`, as the verbs name it (``{"contact": {...}}``)."""
    return {"contact": _id(contact)}


def verbs(network: str | None = None, **native: bool) -> Event:
    """What the network carries natively (``corrections=True``, ``reactions=True``,
    ``replies``, ``retractions``, ``files``, ``typing``...); until then, nothing."""
    return {"verbs": {"network": network, "verbs": native}}


def corrected(chat: Json, author: str, target: str, body: str, *, kind: MessageKind = "text") -> Event:
    """`author` (a nick in a room, the contact in a direct chat) edited message `target`."""
    return _event("corrected", chat=chat, author=author, target=target, body=body, kind=kind)


def reaction(chat: Json, author: str, target: str, emoji: str, *, removed: bool = False) -> Event:
    """`author` reacted to message `target` with `emoji`, or took it back."""
    return _event("reaction", chat=chat, author=author, target=target, emoji=emoji, removed=removed)


def retracted(chat: Json, author: str, target: str, *, moderator: str | None = None,
              reason: str | None = None) -> Event:
    """Message `target` by `author` was deleted (by `moderator`, if not its author)."""
    return _event("retracted", chat=chat, author=author, target=target, moderator=moderator, reason=reason)


def verb_refused(chat: Json, target: str, reason: str) -> Event:
    """The network did not carry out the user's correction, reaction or retraction of
    `target`: the user is told why, in that chat."""
    return _event("verb_refused", chat=chat, target=target, reason=reason)


def bounce(command: str, payload: Json, reason: str) -> Event | None:
    """The event that tells the user `command` failed for `reason` (the failure of a send
    or a join, the empty answer to a request), or ``None`` for a command without one."""
    if command == "send_message":
        return send_failed(LegacyId.from_json(payload["to"]), payload.get("id"), reason)
    if command == "send_room_message":
        return room_send_failed(LegacyId.from_json(payload["room"]), ClientIds.from_json(payload.get("ids")),
                                "unreachable", reason)
    if command == "join_room":
        return room_join_failed(LegacyId.from_json(payload["room"]), "other", reason)
    # Requests are waited for: each gets its answer, empty, rather than silence.
    request = payload.get("request")
    answers: dict[str, Event] = {
        "list_rooms": {"room_list_failed": {"request": request, "text": reason}},
        "look_up": {"looked_up": {"request": request, "details": None}},
        "list_bans": {"ban_list": {"request": request, "masks": {"Err": reason}}},
        "get_room_config": {"room_config": {"request": request, "config": {"Err": reason}}},
    }
    return answers.get(command)
