"""Another user's traffic, checked while a hostile client attacks (server mode, ngircd): bob,
logged in with slixmpp, talks in a room with rawcarol on IRC; his messages must come back
and reach IRC, IRC's must reach him, and a new user must log in, each within a bound.
"""

from __future__ import annotations

import time

from server_fixtures import IRC

# What "flows" means: the echo of a room message, the line on IRC, and IRC's answer, each
# within this many seconds of being sent, while the flood goes on. A quiet debug build
# answers in milliseconds; this leaves room for a loaded 2-core CI machine.
LATENCY = 3.0
LOGIN_WITHIN = 10.0
ROOM = "#flood"
FLOOD = 3000


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


SERVER = {"allow_plaintext_on_loopback": True}


async def victim_in_room(server, sconnect, raw_irc):
    """bob (slixmpp) in ROOM with rawcarol (IRC); returns (bob, carol)."""
    carol = await raw_irc("rawcarol")
    await carol.join(ROOM)
    bob = await sconnect(server, f"bob@{IRC}", "pw")
    bob.send_raw(f"<presence to='{ROOM}@{IRC}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await bob.expect_presence(f"{ROOM}@{IRC}/bob")
    await carol.expect_cmd("JOIN", frm="bob")
    return bob, carol


async def assert_flows(server, bob, carol, tag: str, sconnect=None) -> None:
    """bob's messages flow both ways within LATENCY; a new user logs in within LOGIN_WITHIN."""
    t0 = time.monotonic()
    body = f"from bob {tag}"
    bob.send_message(f"{ROOM}@{IRC}", body, mtype="groupchat")
    await bob.expect_message(f"{ROOM}@{IRC}/bob", body, mtype="groupchat", timeout=LATENCY)
    await carol.expect_privmsg("bob", ROOM, body, timeout=LATENCY)
    echo_and_irc = time.monotonic() - t0
    t1 = time.monotonic()
    carol.privmsg(ROOM, f"from carol {tag}")
    await bob.expect_message(f"{ROOM}@{IRC}/rawcarol", f"from carol {tag}", mtype="groupchat",
                             timeout=LATENCY)
    from_irc = time.monotonic() - t1
    # A ping to the user's own account is answered by the router.
    t2 = time.monotonic()
    await bob.iq("get", f"bob@{IRC}", "<ping xmlns='urn:xmpp:ping'/>", timeout=LATENCY)
    ping = time.monotonic() - t2
    print(f"[{tag}] echo+irc {echo_and_irc:.3f} s, from irc {from_irc:.3f} s, ping {ping:.3f} s")
    if sconnect is not None:
        t3 = time.monotonic()
        newcomer = await sconnect(server, f"d{tag[:3]}@{IRC}", "pw", timeout=LOGIN_WITHIN)
        print(f"[{tag}] new login {time.monotonic() - t3:.3f} s")
        await newcomer.disconnect()
