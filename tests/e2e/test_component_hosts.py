"""test_component.py's tests again, on the other host servers of component mode: ejabberd
(Debian 12's 23.01) without and with XEP-0356 privileges, and Prosody with them (the
privileges change what the gateway does at registration and unregistration). The tests are
test_component.py's own, collected here a second time; only the `prosody` fixture, the host
server, differs."""

from __future__ import annotations

import pytest

from harness.ejabberd import running as ejabberd_running
from harness.gateway import TRANSPORT
from harness.prosody import running as prosody_running
from test_component import *  # noqa: F401,F403  (the tests, collected again with these hosts)

ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}
GRANTED = {"roster": "both", "message": "outgoing"}


@pytest.fixture(params=[("prosody", GRANTED), ("ejabberd", None), ("ejabberd", GRANTED)],
                ids=["prosody-privileged", "ejabberd", "ejabberd-privileged"])
def prosody(tmp_path, request):
    """The host server of the test's parameter."""
    server, granted = request.param
    run = ejabberd_running if server == "ejabberd" else prosody_running
    with run(tmp_path / server, request, [TRANSPORT], ACCOUNTS,
             privileged={TRANSPORT: granted} if granted else None) as host:
        yield host
