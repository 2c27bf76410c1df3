"""Smoke: the harness itself works, and Pontoon's component link comes up and answers disco."""

from harness.client import NS_DISCO_INFO, User, dump
from harness.prosody import Prosody


async def test_prosody_accepts_client_login(prosody: Prosody, connect):
    """The harness's Prosody is real: a user logs in over c2s and gets a roster."""
    user: User = await connect("user1")
    roster = await user.roster()
    assert isinstance(roster, dict)
    assert not prosody.log_contains("Refusing to run as root")


async def test_pontoon_link_up_and_disco(pontoon, connect):
    """Pontoon connects as test.localhost and answers a disco#info query from a user."""
    user = await connect("user1")
    reply = await user.iq("get", "test.localhost", f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert reply.get("type") == "result", f"disco#info failed: {dump(reply)}"
