"""Several instances behind ejabberd's balanced component (issue 16, docs/modes.md "Several
instances"): ejabberd accepts one connection per instance for irc.localhost and, with
`domain_balancing: bare_source`, sends each user's stanzas through one of them. Both
instances are active at once; each account has one IRC connection; every user talks both
ways whichever instance serves them."""

from __future__ import annotations

import pytest

from harness.ejabberd import running as ejabberd_running
from ircxmpp import IRC, contact, register_irc, wait_on_irc

ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}


@pytest.fixture
def prosody(tmp_path, request):
    """The host server: ejabberd, balancing irc.localhost's stanzas by the sender's bare JID."""
    balancing = {"domain_balancing": {IRC: {"type": "bare_source", "component_number": 2}}}
    with ejabberd_running(tmp_path / "ejabberd", request, ["test.localhost", IRC], ACCOUNTS,
                          options=balancing) as e:
        yield e


@pytest.mark.timeout(180)
async def test_two_active_instances_one_irc_connection_per_account(
        tmp_path, prosody, make_irc_pontoon, irc_options, postgres_url, connect, raw_irc):
    key = str(tmp_path / "store.key")
    # Each waits for its own irc.localhost link: ejabberd takes both (no standby).
    instances = [make_irc_pontoon(irc_options, store_url=postgres_url, key_file=key) for _ in range(2)]
    for p in instances:
        assert p.count_log(r"standing by") == 0, "ejabberd accepts every instance's connection"

    raw = await raw_irc("rawbob")
    base = await raw.user_count()
    users = []
    for i in range(1, 5):
        user = await connect(f"user{i}")
        await register_irc(user, f"nick{i}")
        users.append(user)
    for i in range(1, 5):
        await wait_on_irc(raw, f"nick{i}")
    assert await raw.user_count() == base + 4, "one IRC connection per account with two active instances"

    for i, user in enumerate(users, start=1):
        raw.privmsg(f"nick{i}", f"to {i}")
        await user.expect(lambda s, i=i: s.kind == "message" and s.from_bare == contact("rawbob")
                          and s.body == f"to {i}", 10, what=f"rawbob's line to nick{i}")
        user.send_message(contact("rawbob"), f"from {i}")
        await raw.expect_privmsg(f"nick{i}", "rawbob", f"from {i}")

    # Each user's session logged in once, on one instance (which one: ejabberd's hash).
    logins = {u: [i for i, p in enumerate(instances)
                  for _ in range(p.count_log(rf'user="user{u}@localhost"\}}: pontoon_core::session: logging in'))]
              for u in range(1, 5)}
    print(f"\ninstance of each user's session: {logins}")
    assert all(len(on) == 1 for on in logins.values()), logins
    assert await raw.user_count() == base + 4
