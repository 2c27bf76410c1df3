"""A transport's policy is seeded from the file at the first start and then lives in the
store. Edits of the file after that are named, with the command that applies them, by
`check-config` and by `run`; `pontoon policy show/set` show and set the transport's options
(`options.NAME=VALUE`) with the transport's own checks. (docs/operating.md, section 3.)
"""

from __future__ import annotations

import pytest

from server_fixtures import IRC  # noqa: F401  (the conftest makes make_server)

pytestmark = pytest.mark.asyncio


async def test_file_edits_after_seeding_are_named_with_the_command_that_applies_them(make_server):
    server = make_server(test_options={"rich": "true"})
    ok = await server.cli_async("check-config")
    assert "warning" not in ok.stderr, ok.stderr
    server.stop()

    # The operator edits the file after the first start.
    server.transport["public_registration"] = False
    server.transport["options"] = {"rich": "false"}
    server.write_config()
    check = await server.cli_async("check-config")
    expected_command = "pontoon policy set test options.rich=false public_registration=false"
    assert (
        "warning: transport test: the store's policy is in force and differs from this file for "
        "options.rich, public_registration; to apply the file's values: " + expected_command
    ) in check.stderr, check.stderr

    # `run` says the same, once, naming the keys and the command.
    server.start(wait_ready=True)
    assert server.count_log(r"keys=options\.rich, public_registration", since=server.start_offset) == 1
    assert server.count_log(r"apply=" + expected_command.replace(".", r"\."), since=server.start_offset) == 1

    # The command it gives applies the file's values (to the running gateway too).
    applied = await server.cli_async(*expected_command.split()[1:])
    assert 'options.rich = "false"' in applied.stdout, applied.stdout
    assert "public_registration = false" in applied.stdout, applied.stdout
    clean = await server.cli_async("check-config")
    assert "warning" not in clean.stderr, clean.stderr


async def test_policy_set_takes_options_with_the_transports_checks(make_server):
    server = make_server(test_options={"rich": "true"})
    shown = await server.cli_async("policy", "show", "test")
    assert 'options.rich = "true"' in shown.stdout, shown.stdout

    bad = await server.cli_async("policy", "set", "test", "options.rich=maybe", check=False)
    assert bad.returncode == 1
    assert 'options: rich must be true or false, not "maybe"' in bad.stderr, bad.stderr
    # A bare option name is refused with the spelling that works.
    bare = await server.cli_async("policy", "set", "test", "rich=false", check=False)
    assert bare.returncode == 1
    assert 'unknown policy key "rich"' in bare.stderr and "options.rich" in bare.stderr, bare.stderr

    removed = await server.cli_async("policy", "set", "test", "options.rich=")
    assert "options.rich" not in removed.stdout, removed.stdout
    assert "enabled = true" in removed.stdout, removed.stdout
