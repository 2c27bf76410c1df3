"""A network in another process: Pontoon runs the Python SDK's example backend
(sdk/python/examples/echo.py) and a user reaches it from an ordinary XMPP client, through
Prosody (component mode) and with Pontoon as the server. The backend crashes on cue: the
user sees the outage (the transport away, a message), gets the message that was in flight
bounced, and is logged back in, in their room, when the backend is up again."""

from __future__ import annotations

from conftest import ECHO
from harness.client import error_condition, error_text
from harness.gateway import form_fields, get_registration_form, register_and_login
from harness.muc import expect_groupchat, expect_occupant, joined, say
from harness.web import Http

ROOM = f"#room@{ECHO}"
BOB = f"bob@{ECHO}"


def transport_presence(show: str | None, status_word: str | None = None):
    def match(s) -> bool:
        if s.kind != "presence" or s.frm != ECHO or s.type != "available":
            return False
        el = s.xml.find("{jabber:client}show")
        st = s.xml.find("{jabber:client}status")
        text = st.text if st is not None and st.text else ""
        return (el.text if el is not None else None) == show and (status_word is None or status_word in text)
    return match


async def test_the_form_is_the_backends_and_messages_go_both_ways(echo_pontoon, connect):
    user = await connect("user1")
    form = await get_registration_form(user, ECHO)
    fields = form_fields(form)
    assert {"username", "password"} <= set(fields), fields
    await register_and_login(user, "alice", "secret", ECHO)
    # The backend's own words at login, and its state kept between logins.
    welcome = await user.expect(lambda s: s.kind == "message" and s.from_bare == ECHO and s.body is not None
                                and "messages echoed so far" in s.body, 15, what="the backend's welcome")
    # Its environment is the operator's table (and PATH), nothing of Pontoon's.
    assert welcome.body == "Welcome: 0 messages echoed so far (from the operator's env)", welcome.body
    user.send_message(BOB, "hello there")
    await user.expect_message(BOB, "hello there", timeout=15)


async def test_a_room_both_ways(echo_pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret", ECHO)
    await joined(user, ROOM, "alice")
    await expect_occupant(user, ROOM, "echobot")
    say(user, ROOM, "hi all", mid="r1")
    await expect_groupchat(user, ROOM, "alice", "hi all")
    await expect_groupchat(user, ROOM, "echobot", "hi all")


async def test_a_crashed_backend_is_restarted_and_nothing_is_lost_in_silence(echo_pontoon, connect):
    api = Http(echo_pontoon.admin_url, token=echo_pontoon.create_token("e2e"))
    user = await connect("user1")
    await register_and_login(user, "alice", "secret", ECHO)
    await joined(user, ROOM, "alice")
    await expect_occupant(user, ROOM, "echobot")

    # The example exits with status 3 on this body, before it has sent the message.
    user.send_raw(f"<message to='{BOB}' type='chat' id='doomed'><body>crash!</body></message>")
    bounce = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "doomed",
                               15, what="the bounce of the message in flight")
    assert error_condition(bounce.xml) == "recipient-unavailable", bounce
    assert "stopped" in error_text(bounce.xml), error_text(bounce.xml)
    # The outage, as the user sees it: the transport away with the reason, and a message.
    await user.expect(transport_presence("xa", "exited with status 3"), 15, what="the transport away")
    await user.expect(lambda s: s.kind == "message" and s.from_bare == ECHO and s.body is not None
                      and "restarting" in s.body, 15, what="the message about the restart")
    # Back: available again, and in the room again without the client doing anything.
    await user.expect(transport_presence(None), 20, what="the transport available again")
    user.send_message(BOB, "after the crash")
    await user.expect_message(BOB, "after the crash", timeout=15)
    say(user, ROOM, "still here?", mid="r2")
    await expect_groupchat(user, ROOM, "echobot", "still here?", timeout=15)

    # The operator's view: one restart, running again, the backend's last stderr lines.
    procs = api.get("/api/v1/transports/echo").json()["processes"]
    assert len(procs) == 1, procs
    assert procs[0]["restarts"] == 1, procs
    assert procs[0]["state"].startswith("running"), procs
    assert procs[0]["sessions"] == 1, procs


async def test_server_mode_logs_in_through_the_backend(make_echo_server, sconnect):
    server = make_echo_server()
    alice = await sconnect(server, f"alice@{ECHO}", "secret")
    alice.send_message(BOB, "hi from server mode")
    await alice.expect_message(BOB, "hi from server mode", timeout=15)
    # A second user on the same process, their sessions apart.
    carol = await sconnect(server, f"carol@{ECHO}", "secret")
    carol.send_message(BOB, "carol's")
    await carol.expect_message(BOB, "carol's", timeout=15)
    await alice.expect_none(lambda s: s.kind == "message" and s.body == "carol's", 1.0)
