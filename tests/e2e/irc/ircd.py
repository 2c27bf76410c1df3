"""Real IRC servers for the IRC end-to-end tests, each private, on free loopback ports.

- `Ngircd`: ngircd 26 (plain RFC 2812, no IRCv3), configured as docs/testing-peers.md says
  (no connection limits per IP, no penalties, long nicks). It can be killed (SIGKILL) and
  started again on the same port, to test the gateway's reconnection. It has one IRC
  operator (`oper` / `operpass`) so a test client can watch clients exit (user mode +c).
- `InspircdAtheme`: InspIRCd 3 with Atheme services linked (SASL PLAIN, echo-message,
  server-time...), configured as docs/testing-peers.md says, with the Atheme account
  `seeded` / `plainpass1` seeded in services.db. Same configuration as
  crates/pontoon-irc/tests/inspircd_sasl.rs.

Every wait has a timeout; stop() ends the processes by pid (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.util import free_port, free_ports, port_open, stop_process, tail  # noqa: E402

NGIRCD_CANDIDATES = ["/usr/sbin/ngircd", "/usr/bin/ngircd", "/usr/local/sbin/ngircd"]
INSPIRCD = "/usr/sbin/inspircd"
ATHEME = "/usr/bin/atheme-services"

OPER_NAME = "oper"
OPER_PASSWORD = "operpass"

SEEDED_ACCOUNT = "seeded"
SEEDED_PASSWORD = "plainpass1"


class IrcdError(RuntimeError):
    pass


def _is_root() -> bool:
    return os.geteuid() == 0


def _wait_port(port: int, proc: subprocess.Popen, what: str, log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port, timeout=0.2):
        if proc.poll() is not None:
            raise IrcdError(f"{what} exited with status {proc.returncode} before listening on {port}\n"
                            f"--- tail of {log} ---\n{tail(log, 30)}")
        if time.monotonic() >= deadline:
            raise IrcdError(f"{what} did not listen on {port} within {timeout} s\n--- tail of {log} ---\n{tail(log, 30)}")
        time.sleep(0.05)


def _wait_port_free(port: int, timeout: float = 10.0) -> None:
    """Waits until nothing accepts on the port any more (the old server is gone)."""
    deadline = time.monotonic() + timeout
    while port_open(port, timeout=0.2):
        if time.monotonic() >= deadline:
            raise IrcdError(f"port {port} is still open {timeout} s after the server was stopped")
        time.sleep(0.05)


class Ngircd:
    """One ngircd process. The config lives in a world-readable temp dir under /tmp, since
    ngircd started as root switches to `nobody` (docs/testing-peers.md); its output goes to
    `<workdir>/ngircd.log`."""

    def __init__(self, workdir: Path, port: int | None = None, name: str = "irc.test",
                 password: str | None = None):
        self.workdir = Path(workdir)
        # A server password every client must give (PASS), as private servers and bouncers do.
        self.password = password
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.bin = next((p for p in NGIRCD_CANDIDATES if Path(p).exists()), None)
        self.port = port or free_port()
        self.name = name
        self.log_path = self.workdir / "ngircd.log"
        self.confdir = Path(tempfile.mkdtemp(prefix="pontoon-e2e-ngircd-"))
        self.proc: subprocess.Popen | None = None
        self._log = None

    def write_config(self) -> Path:
        d = self.confdir
        conf = d / "ngircd.conf"
        conf.write_text(
            "[Global]\n"
            f"  Name = {self.name}\n"
            "  Info = loopback test ircd\n"
            "  Listen = 127.0.0.1\n"
            + (f"  Password = {self.password}\n" if self.password else "")
            + f"  Ports = {self.port}\n"
            f"  MotdFile = {d}/motd\n"
            f"  PidFile = {d}/ngircd.pid\n"
            "[Limits]\n"
            "  MaxConnections = 0\n"
            "  MaxConnectionsIP = 0\n"
            "  MaxJoins = 0\n"
            "  MaxNickLength = 30\n"
            "  MaxPenaltyTime = 0\n"
            "  PingTimeout = 300\n"
            "  PongTimeout = 60\n"
            "[Options]\n"
            "  DNS = no\n"
            "  Ident = no\n"
            "  PAM = no\n"
            "  RequireAuthPing = no\n"
            "[Operator]\n"
            f"  Name = {OPER_NAME}\n"
            f"  Password = {OPER_PASSWORD}\n"
            "[SSL]\n"
        )
        (d / "motd").write_text("pontoon e2e\n")
        os.chmod(d, 0o777)
        os.chmod(conf, 0o644)
        os.chmod(d / "motd", 0o644)
        return conf

    def start(self, timeout: float = 10.0) -> None:
        if self.bin is None:
            raise IrcdError("ngircd is not installed (Debian package ngircd; scripts/test installs it)")
        if self.running():
            raise IrcdError("ngircd is already running")
        conf = self.write_config()
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.bin, "-n", "-f", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        _wait_port(self.port, self.proc, "ngircd", self.log_path, timeout)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """kill -9, as a crash would; returns once the port is closed."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        self._close_log()
        _wait_port_free(self.port)

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, timeout=5)
        self._close_log()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.confdir, ignore_errors=True)

    def _close_log(self) -> None:
        if self._log:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)


def _inspircd_conf(d: str, port: int, link: int, tls: int) -> str:
    return f"""<server name="irc.pontoon.test" description="Pontoon test IRC" network="PontoonTest" id="001">
<admin name="Test" nick="test" email="test@pontoon.test">
<path configdir="{d}" datadir="{d}/data" logdir="{d}/logs" runtimedir="{d}/run">
<pid file="{d}/run/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/logs/ircd.log">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link}" type="servers">
<module name="ssl_gnutls">
<sslprofile name="Clients" provider="gnutls" certfile="{d}/tls/cert.pem" keyfile="{d}/tls/key.pem" dhfile="" hash="sha256" requestclientcert="yes">
<bind address="127.0.0.1" port="{tls}" type="clients" sslprofile="Clients">
<module name="sslinfo">
<connect name="local" allow="127.0.0.1" resolvehostnames="no" useident="no" timeout="20" pingfreq="120" localmax="5000" globalmax="5000" limit="5000" maxconnwarn="no" threshold="1000000" commandrate="100000000" fakelag="no" recvq="1048576" softsendq="1048576" hardsendq="4194304" maxchans="100" motd="motd.txt">
<performance netbuffersize="65000" softlimit="4096" somaxconn="512" clonesonconnect="yes" quietbursts="yes">
<security hideserver="" userstats="Pu" announceinvites="dynamic" hideulines="yes" flatlinks="no" hidesplits="no">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" defaultmodes="nt">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="10" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200" maxline="512">
<channels users="100" opers="100">
<module name="cap">
<module name="ircv3">
<ircv3 accountnotify="yes" awaynotify="yes" extendedjoin="yes">
<module name="ircv3_capnotify">
<module name="ircv3_ctctags">
<module name="ircv3_echomessage">
<module name="ircv3_msgid">
<module name="ircv3_servertime">
<module name="namesx">
<module name="monitor">
<monitor maxentries="100">
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<sasl target="services.pontoon.test">
<module name="svshold">
<module name="servprotect">
<link name="services.pontoon.test" ipaddr="127.0.0.1" port="{link}" allowmask="127.0.0.1/32" timeout="60" sendpass="linkpass" recvpass="linkpass">
<uline server="services.pontoon.test" silent="yes">
"""


def _atheme_conf(link: int) -> str:
    return f"""loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
loadmodule "modules/nickserv/cert";
loadmodule "modules/saslserv/external";
serverinfo {{
    name = "services.pontoon.test"; desc = "Pontoon test services"; numeric = "00A"; recontime = 2;
    netname = "PontoonTest"; hidehostsuffix = "users.pontoon.test"; adminname = "Test";
    adminemail = "test@pontoon.test"; registeremail = "noreply@pontoon.test";
    loglevel = {{ error; info; admin; network; }};
    maxlogins = 1000; maxusers = 100000; mdlimit = 30; emaillimit = 10; emailtime = 300;
    auth = none; casemapping = rfc1459;
}};
uplink "irc.pontoon.test" {{ host = "127.0.0.1"; port = {link}; password = "linkpass"; }};
nickserv {{ nick = "NickServ"; user = "NickServ"; host = "services.pontoon.test"; real = "Nickname Services"; maxnicks = 5; expire = 0; }};
saslserv {{ nick = "SaslServ"; user = "SaslServ"; host = "services.pontoon.test"; real = "SASL Authentication Agent"; }};
general {{
    uflags = {{ hidemail; }}; cflags = {{ verbose; }}; flood_msgs = 0; flood_time = 10;
    ratelimit_uses = 100000; ratelimit_period = 1; kline_time = 7; clone_time = 0; commit_interval = 1;
    default_clone_allowed = 5000; default_clone_warn = 4000; uplink_sendq_limit = 1048576;
    language = "en"; immune_level = immune;
}};
"""


SERVICES_DB = (
    "DBV 12\nMDEP crypto/pbkdf2v2\nLUID AAAAAAAAT\n"
    f"MU AAAAAAAAS {SEEDED_ACCOUNT} {SEEDED_PASSWORD} seeded@example.com 1700000000 1700000000 +sCb default\n"
    f"MN {SEEDED_ACCOUNT} {SEEDED_ACCOUNT} 1700000000 1700000000\n"
)


def sasl_offered(port: int, timeout: float = 3.0) -> bool:
    """Whether CAP LS on the server lists sasl (that is, Atheme is linked)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"CAP LS 302\r\n")
            buf = b""
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                s.settimeout(max(0.05, deadline - time.monotonic()))
                chunk = s.recv(4096)
                if not chunk:
                    return False
                buf += chunk
                for line in buf.split(b"\r\n"):
                    if b" LS " in line:
                        s.sendall(b"QUIT\r\n")
                        return b"sasl" in line
            return False
    except OSError:
        return False


def _self_signed(d: Path, name: str) -> None:
    """A throwaway server certificate for the TLS port (clients connect with checks off)."""
    d.mkdir(parents=True, exist_ok=True)
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", f"/CN={name}", "-keyout", str(d / "key.pem"),
                    "-out", str(d / "cert.pem")], check=True, capture_output=True, timeout=30)


class InspircdAtheme:
    """InspIRCd 3 + Atheme in `workdir` (configs, logs, services.db). Besides the plain
    client port, `tls_port` speaks TLS (a self-signed certificate; client certificates are
    asked for, and their SHA-256 fingerprints reach Atheme, for CertFP and SASL EXTERNAL)."""

    def __init__(self, workdir: Path):
        self.dir = Path(workdir)
        self.port, self.link_port, self.tls_port = 0, 0, 0
        self.ircd: subprocess.Popen | None = None
        self.services: subprocess.Popen | None = None
        self._logs = []

    def start(self, timeout: float = 25.0) -> None:
        for b in (INSPIRCD, ATHEME):
            if not Path(b).exists():
                raise IrcdError(f"{b} is missing (Debian packages inspircd and atheme-services; scripts/test installs them)")
        d = self.dir
        for sub in ("data", "logs", "run", "atheme"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        self.port, self.link_port, self.tls_port = free_ports(3)
        _self_signed(d / "tls", "irc.pontoon.test")
        (d / "inspircd.conf").write_text(_inspircd_conf(str(d), self.port, self.link_port, self.tls_port))
        (d / "motd.txt").write_text("pontoon e2e\n")
        (d / "atheme" / "atheme.conf").write_text(_atheme_conf(self.link_port))
        (d / "atheme" / "services.db").write_text(SERVICES_DB)
        out = open(d / "logs" / "stdout", "ab")
        self._logs.append(out)
        cmd = [INSPIRCD, "--nofork", "--config", str(d / "inspircd.conf")]
        if _is_root():
            cmd.append("--runasroot")
        # InspIRCd 3.15 with ssl_gnutls crashes as it exits (SIGSEGV in InspIRCd::Exit once
        # the modules are unloaded; nothing is lost): no core file, and none in the caller's
        # directory.
        self.ircd = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True, cwd=d)
        resource.prlimit(self.ircd.pid, resource.RLIMIT_CORE, (0, 0))
        _wait_port(self.port, self.ircd, "inspircd", d / "logs" / "ircd.log")
        a = d / "atheme"
        aout = open(a / "stdout", "ab")
        self._logs.append(aout)
        self.services = subprocess.Popen(
            [ATHEME, "-n", "-c", str(a / "atheme.conf"), "-D", str(a), "-l", str(a / "atheme.log"),
             "-p", str(a / "atheme.pid")],
            stdin=subprocess.DEVNULL, stdout=aout, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not sasl_offered(self.port):
            if self.services.poll() is not None:
                raise IrcdError(f"atheme-services exited with {self.services.returncode}\n{tail(a / 'atheme.log', 30)}")
            if time.monotonic() >= deadline:
                raise IrcdError(f"Atheme did not link to InspIRCd within {timeout} s (no sasl in CAP LS)\n"
                                f"{tail(a / 'atheme.log', 30)}")
            time.sleep(0.2)

    def stop(self) -> None:
        for p in (self.services, self.ircd):
            if p is not None:
                stop_process(p, timeout=5)
        for f in self._logs:
            f.close()
        self._logs.clear()

    def log_tail(self, lines: int = 30) -> str:
        return (f"--- {self.dir / 'logs' / 'ircd.log'} ---\n{tail(self.dir / 'logs' / 'ircd.log', lines)}\n"
                f"--- {self.dir / 'atheme' / 'atheme.log'} ---\n{tail(self.dir / 'atheme' / 'atheme.log', lines)}")
