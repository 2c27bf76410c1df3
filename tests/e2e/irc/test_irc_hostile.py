"""Hostile input in component mode through Prosody (issue 21): what reaches IRC from a
registration form. (Bodies, subjects and addresses: test_irc_messages.py; floods:
test_irc_flood.py; server mode: tests/e2e/hostile/.)"""

from __future__ import annotations

from harness.client import dump, error_condition
from harness.gateway import NS_DATA, NS_REGISTER, get_registration_form
from ircxmpp import IRC


def form(username: str, password: str = "") -> str:
    return (f"<query xmlns='{NS_REGISTER}'><x xmlns='{NS_DATA}' type='submit'>"
            f"<field var='FORM_TYPE' type='hidden'><value>{NS_REGISTER}</value></field>"
            f"<field var='username'><value>{username}</value></field>"
            f"<field var='password'><value>{password}</value></field></x></query>")


async def test_registration_fields_cannot_inject_irc(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("watcher")
    user = await connect("user1")
    assert (await get_registration_form(user, IRC)).get("type") == "result"
    # A nick with CR/LF (as character references, which XML keeps) or a space: refused
    # with the reason, nothing registered.
    for nick in ("alice&#13;&#10;QUIT :x", "alice&#10;JOIN #x", "al ice", "#alice"):
        reply = await user.iq("set", IRC, form(nick))
        assert reply.get("type") == "error", (nick, reply)
        assert error_condition(reply) in ("not-acceptable", "bad-request"), (nick, error_condition(reply))
    # A password with CR/LF or NUL is refused too, saying why (it would end an IRC line
    # where the network has no SASL and takes it in PASS).
    reply = await user.iq("set", IRC, form("alice", "pw&#13;&#10;QUIT :injected"))
    assert reply.get("type") == "error" and error_condition(reply) == "not-acceptable", dump(reply)
    assert "line break" in dump(reply), dump(reply)
    # Nothing of it reached IRC, and a clean registration still works.
    reply = await user.iq("set", IRC, form("alice", ""))
    assert reply.get("type") == "result", dump(reply)
    await raw.expect_none(lambda m: m.command == "QUIT" or "injected" in m.trailing, 1.0,
                          what="a line of a refused field on IRC")
