"""Server mode and the persisted outbox (issue 16): a message the user sends while the IRC
server is down waits in Pontoon's store; Pontoon is killed (-9) meanwhile; once it runs
again and the user logs in, the message reaches IRC. Nothing the user sent is lost."""

from __future__ import annotations

import asyncio

import pytest

from server_fixtures import IRC
from harness.muc import chat


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


@pytest.mark.timeout(120)
async def test_server_mode_message_kept_while_irc_is_down_survives_kill_9(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd))
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    bob = await raw_irc("rawbob")
    await bob.whois("alice")
    offset = server.log_offset()
    await asyncio.to_thread(ngircd.kill)
    await server.wait_log_async(r"IRC connection lost.*failures=2", 20, since=offset,
                                what="a failed reconnection attempt")
    chat(alice, f"rawbob@{IRC}", "kept in server mode", mid="held")
    await server.wait_log_async(r"message kept until the connection is back chat=rawbob", 10, since=offset,
                                what="the message kept in the store")
    assert server.kill() == -9
    await asyncio.to_thread(ngircd.start)
    bob = await raw_irc("rawbob")
    offset = server.log_offset()
    await asyncio.to_thread(server.start)
    back = await sconnect(server, f"alice@{IRC}", "pw", resource="back")
    await server.wait_log_async(r"sending what waited for the connection.*messages=1", 30, since=offset,
                                what="the kept message sent at the login")
    await bob.expect_privmsg("alice", "rawbob", "kept in server mode", timeout=15)
    assert not [s for s in back.history if s.kind == "message" and s.type == "error"], back.history
