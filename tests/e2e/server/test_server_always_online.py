"""Server mode with always online (issue 16): the operator keeps users online while away;
the user's only client goes, they stay on IRC and in their channel; a private message said
meanwhile waits as an offline message for their next client, the channel line in the
room's history."""

from __future__ import annotations

import pytest

from server_fixtures import IRC
from harness.muc import NS_DELAY, NS_MUC


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


@pytest.mark.timeout(120)
async def test_server_mode_keeps_the_user_online_and_their_messages(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd), irc_policy={"always_online_default": True})
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    rj = f"#room@{IRC}"
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    alice.send_raw(f"<presence to='{rj}/alice'><x xmlns='{NS_MUC}'><history maxstanzas='0'/></x></presence>")
    await alice.expect_presence(f"{rj}/alice")
    await bob.expect_cmd("JOIN", frm="alice")

    await alice.disconnect()
    away = await bob.wait_away("alice", "Away (offline; messages are kept)", timeout=15)
    assert away == "Away (offline; messages are kept)", away
    bob.privmsg("#room", "the channel went on")
    bob.privmsg("alice", "are you there?")
    await bob.expect_none(lambda m: m.command in ("QUIT", "PART") and m.nick == "alice", 1.0,
                          what="alice leaving IRC")

    back = await sconnect(server, f"alice@{IRC}", "pw", resource="back")
    m = await back.expect_message(f"rawbob@{IRC}", "are you there?", timeout=20)
    assert m.xml.find(f"{{{NS_DELAY}}}delay") is not None, m
    assert server.count_log(r"logging in to the legacy network") == 1, "one IRC login all along"
    before = len(back.history)
    back.send_raw(f"<presence to='{rj}/alice'><x xmlns='{NS_MUC}'><history maxstanzas='5'/></x></presence>")
    await back.expect(lambda s: s.kind == "message" and s.from_bare == rj and s.xml.find("{jabber:client}subject") is not None,
                      15, what="the subject")
    history = [s.body for s in back.history[before:] if s.kind == "message" and s.from_bare == rj and s.body]
    assert history == ["the channel went on"], history
