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


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own: it is stopped and started again (the suite's
    shared one must stay up)."""
    from harness.postgres import Postgres
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


FENCE_WITHIN = 9.0


@pytest.mark.timeout(180)
async def test_an_instance_cut_off_from_the_database_ends_its_sessions(
        tmp_path, make_irc_pontoon, irc_options, own_postgres, connect, raw_irc):
    """Two instances, A active and B standing by, and PostgreSQL stops: for A the database is
    gone while Prosody and IRC are still there (as in a partition). Another instance was
    alive, so A ends its sessions 5 s after its last heartbeat (at most 8 s after the
    database stopped), before their leases lapse (10 s) and another instance could log the same
    accounts in: never two IRC connections for one account. Once the database is back, the
    user, still online, is logged in again: one connection."""
    key = str(tmp_path / "store.key")
    url = own_postgres.new_database()
    a = make_irc_pontoon(irc_options, {}, store_url=url, key_file=key)
    b = make_irc_pontoon(irc_options, {}, start=False, store_url=url, key_file=key)
    b.start(wait_ready=False)
    b.wait_log(rf"another instance holds the domain; standing by.*domain=\"{re.escape(IRC)}\"", 30,
               what="B standing by")
    raw = await raw_irc("rawbob")
    base = await raw.user_count()
    user = await connect("user1")
    await register_irc(user, "alice")
    await wait_on_irc(raw, "alice")
    await a.wait_log_async(r"other instances are alive", 10, what="A seeing B alive (its next heartbeat)")

    offset = a.log_offset()
    stopped_at = time.monotonic()
    own_postgres.pause()
    await raw.wait_gone("alice", timeout=FENCE_WITHIN + 5)
    gone = time.monotonic() - stopped_at
    print(f"\nalice off IRC {gone:.1f} s after the database stopped")
    assert gone < FENCE_WITHIN, f"A kept alice's IRC connection {gone:.1f} s: past her lease"
    a.wait_log(r"ending this instance's sessions", 5, since=offset, what="A saying why it ends its sessions")

    own_postgres.resume()
    await wait_on_irc(raw, "alice", timeout=40)
    assert await raw.user_count() == base + 1, "one IRC connection for alice"
