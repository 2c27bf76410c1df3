"""Server mode's account archive (issue 16): Pontoon is the user's server, so it keeps their
direct chats; slixmpp's own MAM client (xep_0313 with xep_0059 paging) reads them back from
the account, both directions of paging, filtered by contact."""

from __future__ import annotations

from server_fixtures import IRC


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


def mam(user):
    for plugin in ("xep_0059", "xep_0313"):
        if plugin not in user.xmpp.plugin:
            user.xmpp.register_plugin(plugin)
    return user.xmpp.plugin["xep_0313"]


async def archived(user, reverse=False, with_jid=None) -> list[str]:
    bodies = []
    async for m in mam(user).iterate(jid=None, reverse=reverse, with_jid=with_jid, rsm={"max": 2}):
        bodies.append(m["mam_result"]["forwarded"]["stanza"]["body"])
    return bodies


async def test_the_account_archive_keeps_direct_chats(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    carol = await raw_irc("rawcarol")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    await bob.whois("alice")
    said = []
    for i in range(3):
        bob.privmsg("alice", f"from bob {i}")
        await alice.expect_message(f"rawbob@{IRC}", f"from bob {i}")
        alice.send_message(f"rawbob@{IRC}", f"to bob {i}")
        await bob.expect_privmsg("alice", "rawbob", f"to bob {i}")
        said += [f"from bob {i}", f"to bob {i}"]
    carol.privmsg("alice", "from carol")
    await alice.expect_message(f"rawcarol@{IRC}", "from carol")

    assert await archived(alice) == said + ["from carol"]
    assert await archived(alice, reverse=True) == list(reversed(said + ["from carol"]))
    assert await archived(alice, with_jid=f"rawbob@{IRC}") == said
    assert await archived(alice, with_jid=f"rawcarol@{IRC}") == ["from carol"]
