"""`pontoon status`, `pontoon sessions` and `pontoon announce` ask the running gateway through
its REST API (docs/operating.md): what they print is what the process is doing now.
"""

from __future__ import annotations

import asyncio

import pytest

from server_fixtures import IRC  # noqa: F401  (the conftest makes make_server/sconnect)

DOMAIN = "test.localhost"
pytestmark = pytest.mark.asyncio


def rows(stdout: str) -> list[list[str]]:
    """The table's rows, split on runs of two or more spaces."""
    import re
    return [re.split(r"\s{2,}", line.strip()) for line in stdout.splitlines() if line.strip()]


async def test_status_sessions_and_announce_reach_the_running_gateway(make_server, sconnect):
    server = make_server()
    empty = await server.cli_async("sessions")
    assert empty.stdout.strip() == "no sessions", empty.stdout
    alice = await sconnect(server, f"alice@{DOMAIN}", "pw", resource="laptop")

    # The session counts are sampled every second: ask until alice's session is counted.
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        status = await server.cli_async("status")
        lines = rows(status.stdout)
        assert lines[0][0].startswith("Pontoon ") and "in server mode, up" in lines[0][0], status.stdout
        # No LINK column in server mode.
        assert lines[1] == ["TRANSPORT", "DOMAIN", "ENABLED", "ONLINE", "CONNECTING", "TO LEGACY",
                            "TO XMPP", "ERRORS"], lines
        test_row = next(r for r in lines[2:] if r[0] == "test")
        if test_row[3] == "1" or asyncio.get_running_loop().time() > deadline:
            break
        await asyncio.sleep(0.3)
    assert test_row[:5] == ["test", DOMAIN, "yes", "1", "0"], test_row

    sessions = await server.cli_async("sessions")
    lines = rows(sessions.stdout)
    assert lines[0] == ["TRANSPORT", "USER", "LEGACY ID", "STATE", "RESOURCES", "ROOMS"], lines
    assert lines[1][:5] == ["test", f"alice@{DOMAIN}", "alice", "online", f"alice@{DOMAIN}/laptop"], lines
    assert lines[-1] == ["1 session(s)"], lines
    only = await server.cli_async("sessions", "--transport", "test")
    assert only.stdout == sessions.stdout
    as_json = await server.cli_async("sessions", "--json")
    assert f'"user": "alice@{DOMAIN}"' in as_json.stdout, as_json.stdout

    sent = await server.cli_async("announce", "test", "Maintenance", "at", "noon")
    assert sent.stdout.strip() == "announcement sent to 1 user(s) of test", sent.stdout
    await alice.expect_message(DOMAIN, body="Maintenance at noon", mtype="chat")

    # The token each command made for itself is gone once it ends.
    tokens = await server.cli_async("admin", "token", "list")
    assert "pontoon-cli-" not in tokens.stdout, tokens.stdout


async def test_live_commands_say_why_they_cannot(make_server, monkeypatch):
    server = make_server()
    for args in (("announce", "nosuch", "hello"), ("sessions", "--transport", "nosuch")):
        unknown = await server.cli_async(*args, check=False)
        assert unknown.returncode == 1
        assert 'error: no transport named "nosuch" (404 Not Found from http://127.0.0.1:' in unknown.stderr, unknown.stderr

    monkeypatch.setenv("PONTOON_API_TOKEN", "not-a-token")
    refused = await server.cli_async("status", check=False)
    assert refused.returncode == 1
    assert "(401 Unauthorized from " in refused.stderr, refused.stderr
    monkeypatch.delenv("PONTOON_API_TOKEN")

    server.stop()
    down = await server.cli_async("status", check=False)
    assert down.returncode == 1
    assert "cannot reach the gateway's console at 127.0.0.1:" in down.stderr, down.stderr
    assert "is `pontoon run` running with this configuration?" in down.stderr, down.stderr

    server.admin["enabled"] = False
    server.write_config()
    disabled = await server.cli_async("sessions", check=False)
    assert disabled.returncode == 1
    assert "the console is disabled ([admin] enabled = false)" in disabled.stderr, disabled.stderr
