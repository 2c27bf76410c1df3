"""Component mode with ejabberd as the host server (Debian 12's 23.01) instead of Prosody.

This module's `prosody` fixture yields an Ejabberd (harness/ejabberd.py), so the suite's
fixtures (`pontoon`, `connect`) run against it unchanged (test_component_hosts.py runs
test_component.py's tests on it). With mod_privilege (XEP-0356), Pontoon reads what
ejabberd grants and the user's `status` says so, and the roster writes ejabberd 23.01
refuses fall back to subscription requests; without it, the status says nothing was
granted.
"""

from __future__ import annotations

import pytest

from harness.client import dump
from harness.ejabberd import running as ejabberd_running
from harness.gateway import TRANSPORT, register_and_login, status_of
from harness.util import wait_until

# As conftest.py's: accounts user1..user4 (more are made on demand by `connect`).
ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}

GRANTED = {"roster": "both", "message": "outgoing"}


@pytest.fixture
def prosody(tmp_path, request):
    """The host server: ejabberd, granting the transport the privileges of the test's
    indirect parameter (none unless given)."""
    privileged = getattr(request, "param", None)
    with ejabberd_running(tmp_path / "ejabberd", request, [TRANSPORT], ACCOUNTS,
                          privileged={TRANSPORT: privileged} if privileged else None) as e:
        yield e


@pytest.mark.parametrize("prosody", [GRANTED], indirect=True, ids=["privileged"])
async def test_the_host_servers_privileges_are_read(prosody, pontoon, connect):
    # ejabberd 23.01 sends the advertisement (urn:xmpp:privilege:1) from mod_privilege's
    # process once the component is connected, so it may come a little after the handshake.
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    # What ejabberd says it granted (its log is written with a delay of up to 2 s).
    wait_until(lambda: prosody.log_contains(r"Granting permissions to external component 'test\.localhost': "
                                            r"roster = both, presence = none, message = outgoing"),
               5, what="ejabberd's log of the grant")
    user = await connect("user1")
    said = await status_of(user)
    assert "Your server (localhost) lets this gateway: roster get and set; messages as you: yes." in said, said


async def test_a_server_that_grants_nothing_is_said_so(pontoon, connect):
    user = await connect("user1")
    said = await status_of(user)
    assert "Your server (localhost) has granted this gateway no privileges (XEP-0356)." in said, said
    assert pontoon.count_log(r"host server privileges") == 0, "an advertisement without mod_privilege"


@pytest.mark.parametrize("prosody", [GRANTED], indirect=True, ids=["privileged"])
async def test_a_refused_roster_write_falls_back_to_subscription_requests(prosody, make_pontoon, connect):
    """ejabberd 23.01 grants the roster and reads it, then answers every privileged write
    with internal-server-error (ejabberd issue 3942, fixed in 23.10): Pontoon logs it and
    the network's contacts ask to be added instead, with their names, as without the grant."""
    pontoon = make_pontoon(transport={"options": {"rich": "true"}})
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    await register_and_login(user, "user1", "pw")
    ask = await user.expect_presence(f"echo@{TRANSPORT}", "subscribe", timeout=15)
    assert ask.xml.findtext("{http://jabber.org/protocol/nick}nick") == "Echo", dump(ask.xml)
    pontoon.wait_log(r"refused a roster write", 5, what="the refusal logged")
