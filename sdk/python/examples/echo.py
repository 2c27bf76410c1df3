#!/usr/bin/env python3
"""An "echo" network for Pontoon, written with the pontoon-backend SDK.

Every contact answers with what it was sent; in a room, the bot `echobot` repeats what
the user says. Run under Pontoon with, in pontoon.toml:

    [transports.echo]
    kind = "backend"
    command = ["python3", "/path/to/echo.py"]
    domain = "echo.example.org"
"""

from __future__ import annotations

import json
import os
from typing import Any

from pontoon_backend import (
    AddressRules,
    Backend,
    ClientIds,
    Contact,
    LegacyId,
    Occupant,
    RegistrationField,
    Session,
)


class Echo(Backend):
    # What the transport says of itself, sent in the hello before anything else.
    gateway_type = "echo"
    registration_instructions = "Any user name will do. The password is optional (but not 'wrong')."
    registration_fields = (
        RegistrationField("username", "User name", "text", required=True),
        RegistrationField("password", "Password", "password", required=False),
    )
    prompt = "Enter any name: whoever it is answers with what you say."
    # The core tells rooms from contacts by these patterns itself, without asking us.
    addresses = AddressRules(
        case="ascii_lowercase",
        room="#[a-z0-9_-]+",
        contact="[a-z0-9_.-]+",
        occupant_contact="{nick}",  # a room's occupant is messaged privately as the contact of that nick
    )

    async def login(self, session: Session) -> None:
        # The username and password fields arrive as the account's legacy_id and secret.
        if session.account.secret == "wrong":
            session.login_failed("wrong password")  # ends the session
            return
        # What the backend saved for this account last time (see `echoed`) comes back here.
        saved = json.loads(session.state) if session.state else None
        session.data["echoed"] = saved["echoed"] if saved else 0
        session.data["rooms"] = {}  # room name -> the user's nick in it
        session.connected()
        session.contact_list([Contact("echo", name="Echo")])
        session.contact_presence("echo", "available")
        greeting = "Welcome back" if saved else "Welcome"
        # The operator's [transports.NAME.env] is the backend's whole environment.
        extra = os.environ.get("ECHO_GREETING")
        session.notice(f"{greeting}: {session.data['echoed']} messages echoed so far"
                       + (f" ({extra})" if extra else ""))

    async def send_message(self, session: Session, to: LegacyId, body: str, id: str | None, **extra: Any) -> None:
        if body == "crash!":
            # Dies at once, as a crashing backend would: Pontoon bounces this message (it is
            # not acknowledged), restarts the backend and logs every user back in.
            os._exit(3)
        session.message(to, body)  # from the contact, as its answer
        self.echoed(session)

    async def join_room(self, session: Session, room: LegacyId, nick: str, password: str | None,
                        **extra: Any) -> None:
        session.data["rooms"][room.name] = nick
        occupants = [Occupant(nick, "participant", "member"), Occupant("echobot", "moderator", "owner")]
        session.room_joined(room, nick, occupants, subject="Everything said here is said twice")

    async def leave_room(self, session: Session, room: LegacyId, reason: str | None, **extra: Any) -> None:
        session.data["rooms"].pop(room.name, None)

    async def send_room_message(self, session: Session, room: LegacyId, body: str, ids: ClientIds,
                                **extra: Any) -> None:
        nick = session.data["rooms"].get(room.name)
        if nick is None:
            # Raising tells the user: the SDK answers with room_send_failed.
            raise LookupError(f"you are not in {room.name}")
        # The network shows everyone their own message too: that reflection carries the ids
        # the client sent it with, so the client recognises it as its own.
        session.room_message(room, nick, body, ids=ids)
        session.room_message(room, "echobot", body)
        self.echoed(session)

    def echoed(self, session: Session) -> None:
        # Pontoon keeps the state (encrypted) and gives it back at the account's next login.
        session.data["echoed"] += 1
        session.save_state(json.dumps({"echoed": session.data["echoed"]}))


if __name__ == "__main__":
    Echo.main()
