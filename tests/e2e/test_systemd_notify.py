"""systemd's `Type=notify` (issue 18): Pontoon sends READY=1 to $NOTIFY_SOCKET only once it
serves (component mode: the component link is up, so /readyz answers 200 at that moment;
server mode: the client port greets at once), STATUS= with what it waits for meanwhile, and
STOPPING=1 at SIGTERM. The socket is the test's own, bound where systemd's would be.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.notify import NotifySocket, stream_features
from harness.pontoon import Pontoon
from harness.util import free_port
from harness.web import Http


@pytest.fixture
def notify(monkeypatch):
    """A NotifySocket whose path is $NOTIFY_SOCKET for the Pontoons this test starts (in
    /tmp: a unix socket's path is limited to 107 bytes)."""
    d = Path(tempfile.mkdtemp(prefix="pontoon-notify-"))
    try:
        with NotifySocket(d / "notify") as n:
            monkeypatch.setenv("NOTIFY_SOCKET", str(n.path))
            yield n
    finally:
        shutil.rmtree(d, ignore_errors=True)


def sigterm_sends_stopping(pontoon: Pontoon, notify: NotifySocket) -> None:
    rc, in_time = pontoon.terminate_and_wait(timeout=20)
    assert (rc, in_time) == (0, True), pontoon.log_tail()
    assert notify.wait_for("STOPPING", 1) == {"STOPPING": "1", "STATUS": "Stopping"}


def test_ready_only_once_the_component_link_is_up(make_pontoon, prosody, notify):
    # The XMPP server is not there yet (nothing listens on the component port).
    pontoon = make_pontoon(start=False)
    pontoon.component["port"] = free_port()
    pontoon.write_config()
    pontoon.start(wait_ready=False)
    status = notify.wait_for("STATUS", 15, value="component link to the XMPP server is down")
    assert status["STATUS"] == "Waiting: transport test: the component link to the XMPP server is down"
    # The link keeps failing: no READY for as long as we look (the link retries meanwhile).
    pontoon.wait_log(r"component link: connection refused", 15, what="a failed link attempt")
    assert "READY" not in notify.collect(1.0) and "READY" not in notify.keys(), notify.messages
    sigterm_sends_stopping(pontoon, notify)

    # With the XMPP server there, READY comes, and by then the gateway serves.
    notify.messages.clear()
    pontoon.component["port"] = prosody.component_port
    pontoon.write_config()
    pontoon.start(wait_ready=False)
    ready = notify.wait_for("READY", 30)
    r = Http(pontoon.admin_url, timeout=5).get("/readyz")
    assert (r.status, r.body) == (200, "ready\n")
    assert ready == {"READY": "1", "STATUS": "Serving"}
    assert pontoon.count_log(r"component link up.*test\.localhost", since=pontoon.start_offset) >= 1
    assert notify.keys().count("READY") == 1
    sigterm_sends_stopping(pontoon, notify)


def test_ready_in_server_mode_means_the_client_port_greets(tmp_path, notify):
    pontoon = Pontoon(tmp_path / "pontoon", component_port=1, secret="unused", mode="server",
                      store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""))
    try:
        pontoon.start(wait_ready=False)
        notify.wait_for("READY", 30)
        # No retry: the port was bound and served when READY was sent.
        features = stream_features(pontoon.c2s_port, "test.localhost")
        assert "<stream:stream" in features and "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'" in features, features
        sigterm_sends_stopping(pontoon, notify)
    finally:
        pontoon.stop()


def test_nothing_is_sent_without_notify_socket(make_pontoon, monkeypatch, notify):
    monkeypatch.delenv("NOTIFY_SOCKET")
    pontoon = make_pontoon()
    assert "ready: told the service manager" not in pontoon.log_text(pontoon.start_offset)
    pontoon.stop()
    assert notify.collect(0.5) == []
