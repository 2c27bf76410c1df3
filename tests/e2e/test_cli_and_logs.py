"""What an operator meets around the gateway (issue 18): commands that act on the store never
act on the wrong one, and the log is written for where it goes (no colour codes in a file,
JSON lines for log shippers)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
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


async def test_db_status_and_a_backup_while_running(make_pontoon, connect, tmp_path):
    pontoon = make_pontoon()
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    status = (await pontoon.cli_async("db", "status")).stdout
    assert re.search(r"SQLite: schema version (\d+) \(this build: \1\)", status), status
    assert "no migration pending" in status, status

    backup = tmp_path / "backup.db"
    out = (await pontoon.cli_async("db", "backup", str(backup))).stdout
    assert "store key" in out and "store.key" in out, out
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    with sqlite3.connect(backup) as db:  # a consistent copy, taken while Pontoon runs
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        jids = [r[0] for r in db.execute("SELECT jid FROM registrations")]
    assert jids == ["user1@localhost"], jids
    # Never over an existing file.
    again = await pontoon.cli_async("db", "backup", str(backup), check=False)
    assert again.returncode != 0 and "backup.db" in again.stderr, again.stderr
    await echo_roundtrip(user, "still served")


async def test_db_backup_of_postgres_says_what_to_use(make_pontoon, postgres_url, tmp_path):
    pontoon = make_pontoon(store_url=postgres_url)
    status = (await pontoon.cli_async("db", "status")).stdout
    assert "PostgreSQL: schema version" in status and "no migration pending" in status, status
    run = await pontoon.cli_async("db", "backup", str(tmp_path / "x.db"), check=False)
    assert run.returncode != 0 and "pg_dump" in run.stderr, run.stderr
    assert not (tmp_path / "x.db").exists()


async def test_db_copy_moves_an_sqlite_store_to_postgres(make_pontoon, connect, postgres_url):
    """Outgrowing SQLite: stop, `pontoon db copy --to postgres://...`, point [store] url at it,
    start. The user's registration (with its encrypted password), the policy and the console
    account come along: the user is logged back in without registering again."""
    pontoon = make_pontoon()
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    pontoon.add_admin("root", "long enough")
    pontoon.stop()
    user.clear_inbox()

    out = (await pontoon.cli_async("db", "copy", "--to", postgres_url)).stdout
    assert "registrations: 1 row(s)" in out and "admin_accounts: 1 row(s)" in out, out
    assert "transport_policies: 1 row(s)" in out, out
    assert "keep the same store key" in out, out
    password = postgres_url.split("@")[0].rsplit(":", 1)[-1]
    assert password not in out, "the URL's password was printed"
    # Twice is refused: the destination is no longer empty.
    again = await pontoon.cli_async("db", "copy", "--to", postgres_url, check=False)
    assert again.returncode == 1 and "the destination store is not empty" in again.stderr, again.stderr

    pontoon.store["url"] = postgres_url
    pontoon.write_config()
    pontoon.start(wait_ready=True)
    status = (await pontoon.cli_async("db", "status")).stdout
    assert "PostgreSQL" in status, status
    # The link-up probe finds the registered, online user: logged in again, no new registration.
    await user.expect_presence(pontoon.domain, "available", timeout=20)
    await echo_roundtrip(user, "served from PostgreSQL")
    admins = (await pontoon.cli_async("admin", "list")).stdout
    assert "root" in admins, admins


async def test_db_rotate_key_reencrypts_and_the_user_logs_back_in(make_pontoon, connect):
    """Store-key rotation: refused while the gateway runs; once stopped, every secret is
    encrypted again with a new key written to the key file, and the registered user's stored
    password still logs them in after the restart."""
    pontoon = make_pontoon()
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    running = await pontoon.cli_async("db", "rotate-key", check=False)
    assert running.returncode == 1 and "the gateway is running" in running.stderr, running.stderr
    pontoon.stop()
    user.clear_inbox()
    key_file = pontoon.data_dir / "store.key"
    old_key = key_file.read_text()
    out = (await pontoon.cli_async("db", "rotate-key")).stdout
    assert f"1 secret(s) re-encrypted; {key_file} holds the new key" in out, out
    assert key_file.read_text() != old_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not key_file.with_suffix(".key.new").exists()

    pontoon.start(wait_ready=True)
    await user.expect_presence(pontoon.domain, "available", timeout=20)
    await echo_roundtrip(user, "after the rotation")


async def test_admin_add_at_a_terminal_says_the_rule_and_asks_again(tmp_path):
    """`pontoon admin add` at a terminal (tmux, as a person types): the password rule comes
    before the prompt, and a password that breaks it or a second entry that differs is asked
    again instead of ending the command."""
    from harness.terminal import Terminal

    cwd = tmp_path / "gw"
    cwd.mkdir()
    script = f"cd {cwd} && {pontoon_bin()} --embedded-defaults admin add root; echo EXIT=$?; sleep 60"
    term = Terminal(tmp_path / "tmux", ["sh", "-c", script], env={"NO_COLOR": "1"})
    term.start()
    try:
        await term.wait_screen(r"at least 8 characters, at most \d+ bytes\.\n.*Password for root: ",
                               what="the rule, then the prompt")
        term.type("short")
        await term.wait_screen(r"the password must be at least 8 characters long; try again\.\n"
                               r"Password for root: ", what="the second attempt")
        term.type("long enough 1")
        await term.wait_screen(r"Same password again: ", what="the confirmation")
        term.type("long enough 2")
        await term.wait_screen(r"the two passwords differ; try again\.\nPassword for root: ",
                               what="the third attempt")
        term.type("long enough 3")
        await term.wait_screen(r"(?s)Same password again: .*Same password again: ", what="the second confirmation")
        term.type("long enough 3")
        await term.wait_screen(r'administrator "root" added', what="the account made")
        await term.wait_screen(r"EXIT=0", what="the exit status")
        assert "long enough" not in term.screen()  # no echo
    finally:
        term.stop()
