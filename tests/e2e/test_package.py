"""The Debian package (issue 18): scripts/package-deb packages the binary under test, dpkg
installs it on this machine, its files are where Debian puts them (binary, conffile readable
by the service's user only, systemd unit that `systemd-analyze verify` accepts, man pages that
`man` finds, bash/zsh/fish completions), the unit's own ExecStart serves (under systemd when it
is PID 1; otherwise run by hand as the unit's User= with $NOTIFY_SOCKET, as systemd would),
and `dpkg --purge` leaves nothing behind.

Needs root (dpkg, a system user): CI runs as root; anywhere else the test fails and says so.
"""

from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.notify import NotifySocket, stream_features
from harness.pontoon import pontoon_bin
from harness.util import REPO_ROOT, free_ports, wait_until
from harness.web import Http

UNIT = Path("/lib/systemd/system/pontoon.service")
CONFIG = Path("/etc/pontoon/pontoon.toml")


def run(*args: str, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("timeout", 120)
    return subprocess.run(list(args), check=True, capture_output=True, text=True, stdin=subprocess.DEVNULL, **kw)


def installed() -> bool:
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", "pontoon"], capture_output=True, text=True)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def unit_settings(path: Path) -> dict[str, str]:
    """The [Service] settings of a unit file (the last value of each key)."""
    settings, section = {}, ""
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            section = line
        elif section == "[Service]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings[key.strip()] = value.strip()
    return settings


def use_free_ports(config: Path) -> tuple[int, int]:
    """Edits the installed configuration as an operator would: the client listener and the
    console on free loopback ports (5222 and 8780 may be taken on this machine)."""
    c2s, admin = free_ports(2)
    text = config.read_text()
    for default, port in (('listen = "127.0.0.1:5222"', c2s), ('listen = "127.0.0.1:8780"', admin)):
        assert text.count(default) == 1, f"{config} has no single line {default}"
        text = text.replace(default, f'listen = "127.0.0.1:{port}"')
    config.write_text(text)
    return c2s, admin


@pytest.fixture
def package(tmp_path):
    """Builds the package from the binary under test and installs it; purges it afterwards
    (and removes the system user it created, which Debian's purge keeps)."""
    if os.geteuid() != 0:
        pytest.fail("test_package.py installs a Debian package and needs root (CI runs as root)")
    for tool in ("dpkg-deb", "systemd-analyze", "man", "objdump"):
        assert shutil.which(tool), f"{tool} is missing (scripts/test installs it)"
    assert not installed(), "a pontoon package is already installed on this machine; remove it first"
    had_user = subprocess.run(["getent", "passwd", "pontoon"], capture_output=True).returncode == 0
    built = run(str(REPO_ROOT / "scripts" / "package-deb"), "--binary", str(pontoon_bin()),
                "--out", str(tmp_path), "--compression", "none")
    deb = Path(built.stdout.strip().splitlines()[-1])
    assert deb.name.endswith(".deb") and deb.exists(), built.stdout
    try:
        run("dpkg", "-i", str(deb))
        yield deb
    finally:
        subprocess.run(["dpkg", "--purge", "pontoon"], capture_output=True, timeout=120)
        if not had_user:
            subprocess.run(["userdel", "pontoon"], capture_output=True, timeout=30)
    assert not installed()
    for gone in (Path("/usr/bin/pontoon"), CONFIG.parent, UNIT, Path("/var/lib/pontoon"),
                 Path("/usr/share/man/man1/pontoon.1.gz")):
        assert not gone.exists(), f"{gone} is still there after dpkg --purge"


def test_the_package_installs_serves_and_purges(package):
    # The files, where Debian puts them.
    version = run("/usr/bin/pontoon", "--version").stdout.strip()
    assert version == run(str(pontoon_bin()), "--version").stdout.strip()
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "pontoon").stdout
    assert str(CONFIG) in conffiles
    st = CONFIG.stat()
    assert (stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name) \
        == (0o640, "root", "pontoon")
    assert 'data_dir = "/var/lib/pontoon"' in CONFIG.read_text()
    verify = run("systemd-analyze", "verify", str(UNIT))
    assert (verify.stdout + verify.stderr).strip() == "", verify.stdout + verify.stderr
    assert run("man", "-w", "pontoon-run").stdout.strip() == "/usr/share/man/man1/pontoon-run.1.gz"
    page = run("man", "-l", "/usr/share/man/man1/pontoon.1.gz", env={**os.environ, "MANPAGER": "cat",
                                                                     "MANWIDTH": "80"}).stdout
    assert "pontoon - An XMPP gateway to other chat networks" in page and "check-config" in page
    bash = run("bash", "-c", "source /usr/share/bash-completion/completions/pontoon && complete -p pontoon")
    assert bash.stdout.split()[-3:] == ["-F", "_pontoon", "pontoon"], bash.stdout
    assert Path("/usr/share/zsh/vendor-completions/_pontoon").read_text().startswith("#compdef pontoon")
    assert "complete -c pontoon" in Path("/usr/share/fish/vendor_completions.d/pontoon.fish").read_text()

    # The unit's own command line, as its user.
    unit = unit_settings(UNIT)
    assert unit["Type"] == "notify"
    state = Path("/var/lib") / unit["StateDirectory"]
    user = unit["User"]
    assert pwd.getpwuid(state.stat().st_uid).pw_name == user, f"{state} is not {user}'s"
    c2s, admin = use_free_ports(CONFIG)
    check = run("runuser", "-u", user, "--", "/usr/bin/pontoon", "--config", str(CONFIG), "check-config")
    assert check.stdout.startswith(f"{CONFIG}: OK (1 transport(s): irc)"), check.stdout
    if Path("/run/systemd/system").is_dir():
        run("systemctl", "start", "pontoon.service", timeout=60)  # returns once READY=1 came
        try:
            serves(c2s, admin)
        finally:
            run("systemctl", "stop", "pontoon.service", timeout=60)
    else:
        run_by_hand(unit, c2s, admin)
    key = state / "store.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and pwd.getpwuid(key.stat().st_uid).pw_name == user


def serves(c2s: int, admin: int) -> None:
    features = stream_features(c2s, "irc.localhost")
    assert "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'" in features, features
    r = Http(f"http://127.0.0.1:{admin}", timeout=5).get("/readyz")
    assert (r.status, r.body) == (200, "ready\n")


def run_by_hand(unit: dict[str, str], c2s: int, admin: int) -> None:
    """What systemd would do with the unit (no systemd as PID 1 here): ExecStart as User= and
    Group=, in WorkingDirectory=, with $NOTIFY_SOCKET; READY=1 must come, then it serves, and
    serves on after ExecReload; SIGTERM gives STOPPING=1 and a clean exit."""
    d = Path(tempfile.mkdtemp(prefix="pontoon-pkg-"))
    os.chmod(d, 0o755)  # the service's user sends to the socket in it
    log = d / "pontoon.log"
    try:
        with NotifySocket(d / "notify") as notify, open(log, "wb") as out:
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "NOTIFY_SOCKET": str(notify.path)}
            proc = subprocess.Popen(shlex.split(unit["ExecStart"]), user=unit["User"], group=unit["Group"],
                                    extra_groups=[], cwd=unit["WorkingDirectory"], env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                notify.wait_for("READY", 30)
                serves(c2s, admin)
                # ExecReload= (SIGHUP) reloads; it does not end the process.
                reload = unit["ExecReload"].replace("$MAINPID", str(proc.pid))
                run(*shlex.split(reload))
                wait_until(lambda: "reloading the log level" in log.read_text(errors="replace"), 10, 0.05,
                           "the reload in the log")
                serves(c2s, admin)
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=20) == 0
                assert notify.wait_for("STOPPING", 1)["STOPPING"] == "1"
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)
    except BaseException:
        print(f"--- {log} ---\n{log.read_text(errors='replace') if log.exists() else '(none)'}")
        raise
    finally:
        shutil.rmtree(d, ignore_errors=True)
    assert wait_until(lambda: not (Path("/proc") / str(proc.pid)).exists(), 5, 0.05, "the process to be gone")
