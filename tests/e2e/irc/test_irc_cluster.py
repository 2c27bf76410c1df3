"""Several instances on one PostgreSQL store, in component mode (issue 16): Prosody accepts
one connection per component domain, so one instance is active and the others stand by;
each IRC account has one connection whatever the number of instances; when the active one is
killed (-9), a standby takes the link over and its users' sessions, the always-online ones
included, are back on IRC within the stated time (15 s)."""

from __future__ import annotations

import re
import time

import pytest

from ircxmpp import IRC, register_irc, wait_on_irc

TAKEOVER_WITHIN = 15.0


def taken_over(standbys) -> object:
    """The standby whose log says it took the IRC link over (polls every one for 10 s)."""
    deadline = time.monotonic() + 10
    rx = re.compile(rf"component link taken over.*domain={re.escape(IRC)}")
    while time.monotonic() < deadline:
        for p in standbys:
            if rx.search(p.log_tail(400)):
                return p
        time.sleep(0.1)
    raise AssertionError("no standby took the link over within 10 s")


@pytest.mark.timeout(180)
async def test_a_standby_takes_over_after_kill_9_with_one_irc_connection_per_account(
        tmp_path, make_irc_pontoon, irc_options, postgres_url, connect, raw_irc):
    """Three instances: A active, B and C standing by."""
    key = str(tmp_path / "store.key")
    table = {"always_online_default": True}
    a = make_irc_pontoon(irc_options, table, store_url=postgres_url, key_file=key)
    standbys = []
    for _ in range(2):
        p = make_irc_pontoon(irc_options, table, start=False, store_url=postgres_url, key_file=key)
        p.start(wait_ready=False)
        p.wait_log(rf"another instance holds the domain; standing by.*domain=\"{re.escape(IRC)}\"", 30,
                   what="an instance standing by")
        standbys.append(p)

    raw = await raw_irc("rawbob")
    base = await raw.user_count()
    user = await connect("user1")
    await register_irc(user, "alice")
    await wait_on_irc(raw, "alice")
    assert await raw.user_count() == base + 1, "one IRC connection for alice with three instances running"

    # Always online: her only client goes, she stays on IRC (on the active instance).
    user.send_presence(ptype="unavailable")
    await raw.wait_away("alice", "Away (offline; messages are kept)", timeout=15)

    killed_at = time.monotonic()
    assert a.kill() == -9
    await raw.wait_gone("alice", timeout=10)
    # A standby takes the link over and logs her back in by itself; the other stays by.
    active = taken_over(standbys)
    await wait_on_irc(raw, "alice", timeout=TAKEOVER_WITHIN + 5)
    took = time.monotonic() - killed_at
    print(f"\nalice back on IRC {took:.1f} s after the active instance was killed")
    assert took < TAKEOVER_WITHIN, f"takeover took {took:.1f} s"
    assert await raw.user_count() == base + 1, "still one IRC connection for alice"
    away = await raw.wait_away("alice", "Away (offline; messages are kept)", timeout=10)
    assert away == "Away (offline; messages are kept)"
    # The other one still stands by for irc.localhost (each domain's link is taken on its
    # own: it may have taken the test transport's).
    other = next(p for p in standbys if p is not active)
    assert not re.search(rf"component link taken over.*domain={re.escape(IRC)}", other.log_tail(400))
