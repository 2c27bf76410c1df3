"""What an operator meets around the gateway (issue 18): commands that act on the store never
act on the wrong one, and the log is written for where it goes (no colour codes in a file,
JSON lines for log shippers)."""

from __future__ import annotations

import json
import os
import subprocess

from harness.gateway import echo_roundtrip, register_and_login
from harness.pontoon import pontoon_bin


def test_store_commands_refuse_a_missing_config_file(tmp_path):
    """Run from the wrong directory, `admin`, `registrations`, `policy` and `register` say which
    file they looked for and create nothing (they used to make a new ./data store and edit
    it, saying nothing)."""
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PONTOON_CONFIG", "PONTOON_STORE_KEY")}
    for args in (["admin", "list"], ["registrations", "list"], ["policy", "show"],
                 ["register", "someone@example.org", "irc", "--username", "nick"]):
        run = subprocess.run([str(pontoon_bin()), *args], cwd=cwd, env=env, capture_output=True, text=True,
                             timeout=30, stdin=subprocess.DEVNULL)
        assert run.returncode != 0, (args, run.stdout)
        assert f"no configuration file at {cwd / 'pontoon.toml'}" in run.stderr, (args, run.stderr)
        assert "--embedded-defaults" in run.stderr and "--config" in run.stderr, run.stderr
    assert list(cwd.iterdir()) == [], "a command created files without a configuration"
    # Asked for explicitly, the embedded defaults' store is used.
    run = subprocess.run([str(pontoon_bin()), "--embedded-defaults", "policy", "show"], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stderr
    assert "irc" in run.stdout, run.stdout
    assert (cwd / "data" / "pontoon.db").exists()


async def test_json_log_lines_and_no_colour_in_a_file(make_pontoon, connect):
    pontoon = make_pontoon(start=False)
    pontoon.general["log_format"] = "json"
    pontoon.write_config()
    pontoon.start(wait_ready=True)
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await echo_roundtrip(user, "logged as JSON")
    lines = [line for line in pontoon.log_text().splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(e.get("fields", {}).get("message") == "component link up" for e in events), lines[:20]
    assert all({"timestamp", "level", "target"} <= e.keys() for e in events), lines[:5]
    assert not any("\x1b[" in line for line in lines)
