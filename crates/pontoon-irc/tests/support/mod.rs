//! Real IRC servers for the transport's tests: ngircd (plain RFC, no MONITOR), InspIRCd 3
//! (MONITOR, away-notify) and InspIRCd 3 linked to Atheme (SASL PLAIN, echo-message,
//! server-time), each started in a temp dir on free loopback ports and killed on drop; a raw
//! IRC client; and a gateway session driven directly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use pontoon_core::Transport;
use pontoon_core::channel;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent};
use pontoon_irc::IrcTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{Instant, sleep, timeout};

pub const T: Duration = Duration::from_secs(15);

/// A running ircd (and its services, if any), killed on drop.
pub struct Ircd {
    _dir: tempfile::TempDir,
    child: Child,
    services: Option<Child>,
    pub port: u16,
}

impl Drop for Ircd {
    fn drop(&mut self) {
        if let Some(services) = &mut self.services {
            let _ = services.start_kill();
        }
        let _ = self.child.start_kill();
    }
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn find(candidates: &[&str], package: &str) -> PathBuf {
    for p in candidates {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!(
        "{package} is not installed: this test needs the Debian package `{package}` \
         (apt-get install -y --no-install-recommends {package})"
    );
}

async fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        sleep(Duration::from_millis(50)).await;
    }
}

/// ngircd 26 as in docs/testing-peers.md (no MONITOR, no IRCv3 but multi-prefix).
pub async fn start_ngircd() -> Ircd {
    let bin = find(
        &[
            "/usr/sbin/ngircd",
            "/usr/bin/ngircd",
            "/usr/local/sbin/ngircd",
        ],
        "ngircd",
    );
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let d = dir.path().display();
    let conf = format!(
        "[Global]\n  Name = irc.test\n  Info = loopback test ircd\n  Listen = 127.0.0.1\n  Ports = {port}\n  MotdFile = {d}/motd\n  PidFile = {d}/ngircd.pid\n\
         [Limits]\n  MaxConnections = 0\n  MaxConnectionsIP = 0\n  MaxJoins = 0\n  MaxNickLength = 30\n  MaxPenaltyTime = 0\n  PingTimeout = 300\n  PongTimeout = 60\n\
         [Options]\n  DNS = no\n  Ident = no\n  PAM = no\n  RequireAuthPing = no\n[SSL]\n"
    );
    std::fs::write(dir.path().join("ngircd.conf"), conf).unwrap();
    std::fs::write(dir.path().join("motd"), "test\n").unwrap();
    set_mode(dir.path(), 0o777);
    set_mode(&dir.path().join("ngircd.conf"), 0o644);
    set_mode(&dir.path().join("motd"), 0o644);
    let child = Command::new(bin)
        .arg("-n")
        .arg("-f")
        .arg(dir.path().join("ngircd.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start ngircd");
    wait_listening(port, "ngircd").await;
    Ircd {
        _dir: dir,
        child,
        services: None,
        port,
    }
}

/// An InspIRCd 3 configuration: the settings every test shares, then `extra_binds` after the
/// client port's bind and `modules` after the IRCv3 core modules.
fn inspircd_conf(d: &str, port: u16, extra_binds: &str, modules: &str) -> String {
    format!(
        r#"<server name="irc.pontoon.test" description="Pontoon test IRC" network="PontoonTest" id="001">
<admin name="Test" nick="test" email="test@pontoon.test">
<path configdir="{d}" datadir="{d}/data" logdir="{d}/logs" runtimedir="{d}/run">
<pid file="{d}/run/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/logs/ircd.log">
<bind address="127.0.0.1" port="{port}" type="clients">
{extra_binds}<connect name="local" allow="127.0.0.1" resolvehostnames="no" useident="no" timeout="20" pingfreq="120" localmax="5000" globalmax="5000" limit="5000" maxconnwarn="no" threshold="1000000" commandrate="100000000" fakelag="no" recvq="1048576" softsendq="1048576" hardsendq="4194304" maxchans="100" motd="motd.txt">
<performance netbuffersize="65000" softlimit="4096" somaxconn="512" clonesonconnect="yes" quietbursts="yes">
<security hideserver="" userstats="Pu" announceinvites="dynamic" hideulines="yes" flatlinks="no" hidesplits="no">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes" hostintopic="yes" pingwarning="15" splitwhois="no" defaultmodes="nt">
<limits maxnick="30" maxchan="64" maxmodes="20" maxident="10" maxhost="64" maxquit="255" maxtopic="307" maxkick="255" maxreal="128" maxaway="200" maxline="512">
<channels users="100" opers="100">
<module name="cap">
<module name="ircv3">
<ircv3 accountnotify="yes" awaynotify="yes" extendedjoin="yes">
<module name="ircv3_capnotify">
{modules}"#
    )
}

/// InspIRCd without services: MONITOR (limit 100), away-notify, echo-message, server-time,
/// message-tags (client tags and TAGMSG) and msgid.
fn monitor_conf(d: &str, port: u16) -> String {
    inspircd_conf(
        d,
        port,
        "",
        r#"<module name="ircv3_ctctags">
<module name="ircv3_msgid">
<module name="ircv3_echomessage">
<module name="ircv3_servertime">
<module name="monitor">
<monitor maxentries="100">
<module name="namesx">
"#,
    )
}

/// InspIRCd linked to services on `link`: SASL, echo-message, server-time, msgid.
fn sasl_conf(d: &str, port: u16, link: u16) -> String {
    inspircd_conf(
        d,
        port,
        &format!(
            r#"<bind address="127.0.0.1" port="{link}" type="servers">
"#
        ),
        &format!(
            r#"<module name="ircv3_ctctags">
<module name="ircv3_echomessage">
<module name="ircv3_msgid">
<module name="ircv3_servertime">
<module name="namesx">
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<sasl target="services.pontoon.test">
<module name="svshold">
<module name="servprotect">
<link name="services.pontoon.test" ipaddr="127.0.0.1" port="{link}" allowmask="127.0.0.1/32" timeout="60" sendpass="linkpass" recvpass="linkpass">
<uline server="services.pontoon.test" silent="yes">
"#
        ),
    )
}

/// Writes `conf` and the motd into `dir` (with data/, logs/, run/ and any `subdirs`), starts
/// InspIRCd on it and waits for it to listen on `port`.
async fn spawn_inspircd(
    bin: &Path,
    dir: &Path,
    port: u16,
    conf: String,
    subdirs: &[&str],
) -> Child {
    for sub in ["data", "logs", "run"].iter().chain(subdirs) {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    std::fs::write(dir.join("inspircd.conf"), conf).unwrap();
    std::fs::write(dir.join("motd.txt"), "test\n").unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--nofork")
        .arg("--config")
        .arg(dir.join("inspircd.conf"));
    if is_root() {
        cmd.arg("--runasroot");
    }
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start inspircd");
    wait_listening(port, "inspircd").await;
    child
}

/// InspIRCd 3 without services: MONITOR (limit 100) and away-notify, as in
/// docs/testing-peers.md.
pub async fn start_inspircd() -> Ircd {
    let bin = find(&["/usr/sbin/inspircd"], "inspircd");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let port = free_port();
    let conf = monitor_conf(&d, port);
    let child = spawn_inspircd(&bin, dir.path(), port, conf, &[]).await;
    Ircd {
        _dir: dir,
        child,
        services: None,
        port,
    }
}

const INSPIRCD: &str = "/usr/sbin/inspircd";
const ATHEME: &str = "/usr/bin/atheme-services";

fn atheme_conf(link: u16) -> String {
    format!(
        r#"loadmodule "modules/protocol/inspircd";
loadmodule "modules/backend/opensex";
loadmodule "modules/crypto/pbkdf2v2";
loadmodule "modules/nickserv/main";
loadmodule "modules/nickserv/register";
loadmodule "modules/nickserv/identify";
loadmodule "modules/saslserv/main";
loadmodule "modules/saslserv/plain";
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
"#
    )
}

/// One NickServ account: `seeded`, password `plainpass1`.
const SERVICES_DB: &str = "DBV 12\nMDEP crypto/pbkdf2v2\nLUID AAAAAAAAT\n\
MU AAAAAAAAS seeded plainpass1 seeded@example.com 1700000000 1700000000 +sCb default\n\
MN seeded seeded 1700000000 1700000000\n";

/// Whether `CAP LS` on the network offers sasl (that is, services are linked).
async fn sasl_offered(port: u16) -> bool {
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let (r, mut w) = s.into_split();
    let mut r = BufReader::new(r);
    if w.write_all(b"CAP LS 302\r\n").await.is_err() {
        return false;
    }
    let mut line = String::new();
    let found = timeout(Duration::from_secs(3), async {
        loop {
            line.clear();
            if r.read_line(&mut line).await.unwrap_or(0) == 0 {
                return false;
            }
            if line.contains(" LS ") {
                return line.contains("sasl");
            }
        }
    })
    .await
    .unwrap_or(false);
    let _ = w.write_all(b"QUIT\r\n").await;
    found
}

/// InspIRCd 3 linked to Atheme: SASL PLAIN (account `seeded` / `plainpass1`), echo-message,
/// server-time, msgid; returns once services are linked (sasl offered in `CAP LS`).
pub async fn start_inspircd_atheme() -> Ircd {
    for bin in [INSPIRCD, ATHEME] {
        assert!(
            Path::new(bin).exists(),
            "{bin} is missing: this test needs the Debian packages inspircd and atheme-services \
             (apt-get install -y --no-install-recommends inspircd atheme-services)"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display().to_string();
    let (port, link) = (free_port(), free_port());
    let conf = sasl_conf(&d, port, link);
    let child = spawn_inspircd(Path::new(INSPIRCD), dir.path(), port, conf, &["atheme"]).await;
    std::fs::write(dir.path().join("atheme/atheme.conf"), atheme_conf(link)).unwrap();
    std::fs::write(dir.path().join("atheme/services.db"), SERVICES_DB).unwrap();
    let a = format!("{d}/atheme");
    let services = Command::new(ATHEME)
        .args([
            "-n",
            "-c",
            &format!("{a}/atheme.conf"),
            "-D",
            &a,
            "-l",
            &format!("{a}/atheme.log"),
            "-p",
            &format!("{a}/atheme.pid"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start atheme-services");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sasl_offered(port).await {
        assert!(
            Instant::now() < deadline,
            "Atheme did not link to InspIRCd (no sasl in CAP LS)"
        );
        sleep(Duration::from_millis(200)).await;
    }
    Ircd {
        _dir: dir,
        child,
        services: Some(services),
        port,
    }
}

/// A raw IRC client (CRLF, never a raw CR/LF in a parameter).
pub struct Raw {
    rd: BufReader<tokio::net::tcp::OwnedReadHalf>,
    wr: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(port: u16, nick: &str) -> Raw {
        Raw::connect_as(port, nick, "raw client").await
    }
    /// A connection, not yet registered.
    async fn open(port: u16) -> Raw {
        let s = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let (r, w) = s.into_split();
        Raw {
            rd: BufReader::new(r),
            wr: w,
        }
    }
    /// Registers as `nick` with the real name `real`.
    pub async fn connect_as(port: u16, nick: &str, real: &str) -> Raw {
        let mut raw = Raw::open(port).await;
        raw.send(&format!("NICK {nick}")).await;
        raw.send(&format!("USER {nick} 0 * :{real}")).await;
        raw.until(|l| l.contains(" 001 ")).await;
        raw
    }
    /// Registers as `nick` having asked for the IRCv3 capabilities `caps` (space
    /// separated), which the server must grant.
    pub async fn connect_with_caps(port: u16, nick: &str, caps: &str) -> Raw {
        let mut raw = Raw::open(port).await;
        raw.send(&format!("CAP REQ :{caps}")).await;
        raw.send(&format!("NICK {nick}")).await;
        raw.send(&format!("USER {nick} 0 * :raw client")).await;
        let answer = raw
            .until(|l| l.contains(" ACK ") || l.contains(" NAK "))
            .await;
        assert!(
            answer.contains(" ACK "),
            "the server refused {caps}: {answer}"
        );
        raw.send("CAP END").await;
        raw.until(|l| l.contains(" 001 ")).await;
        raw
    }
    pub async fn send(&mut self, l: &str) {
        assert!(!l.contains(['\r', '\n']));
        self.wr
            .write_all(format!("{l}\r\n").as_bytes())
            .await
            .unwrap();
    }
    /// Reads the next line as received, CRLF included.
    pub async fn raw_line(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        let n = timeout(T, self.rd.read_until(b'\n', &mut buf))
            .await
            .expect("no line from the server")
            .unwrap();
        assert!(n > 0, "the server closed the raw client");
        buf
    }
    /// Reads lines (answering PINGs) until one matches.
    pub async fn until(&mut self, f: impl Fn(&str) -> bool) -> String {
        loop {
            let buf = self.raw_line().await;
            let l = String::from_utf8_lossy(&buf).trim_end().to_owned();
            if let Some(tok) = l.strip_prefix("PING ") {
                let tok = tok.to_owned();
                self.send(&format!("PONG {tok}")).await;
                continue;
            }
            if f(&l) {
                return l;
            }
        }
    }
    /// Quits and waits for the server to close the link.
    pub async fn quit(mut self, reason: &str) {
        self.send(&format!("QUIT :{reason}")).await;
        let _ = timeout(T, async {
            let mut buf = Vec::new();
            while self.rd.read_until(b'\n', &mut buf).await.unwrap_or(0) > 0 {
                buf.clear();
            }
        })
        .await;
    }
}

/// A gateway session driven as the core would.
pub struct Gw {
    pub tx: channel::Sender<LegacyCommand>,
    pub rx: channel::Receiver<LegacyEvent>,
}

impl Gw {
    /// Starts a session without waiting for anything.
    pub fn open(t: &IrcTransport, nick: &str) -> Gw {
        let (etx, rx) = channel::bounded(256);
        let tx = t.start_session(
            LegacyAccount {
                legacy_id: nick.into(),
                secret: None,
                options: BTreeMap::new(),
            },
            etx,
            pontoon_core::state::TransportState::detached(),
        );
        Gw { tx, rx }
    }
    /// Starts a session whose very first event must be `Connected`.
    pub async fn start_strict(t: &IrcTransport, nick: &str) -> Gw {
        let mut gw = Gw::open(t, nick);
        assert_eq!(gw.wait_for(|_| true).await, LegacyEvent::Connected);
        gw
    }
    /// Starts a session and waits for it to be connected (notices before it skipped).
    pub async fn start(t: &IrcTransport, nick: &str) -> Gw {
        let mut gw = Gw::open(t, nick);
        assert_eq!(
            gw.wait_for(|e| !matches!(e, LegacyEvent::Notice { .. }))
                .await,
            LegacyEvent::Connected
        );
        gw
    }
    pub async fn cmd(&self, c: LegacyCommand) {
        self.tx.send(c).await.unwrap();
    }
    /// Skips events until `f` matches.
    pub async fn wait_for(&mut self, f: impl Fn(&LegacyEvent) -> bool) -> LegacyEvent {
        let deadline = Instant::now() + T;
        loop {
            let e = tokio::time::timeout_at(deadline, self.rx.recv())
                .await
                .expect("expected event did not come")
                .expect("session ended");
            if std::env::var_os("SHOW_EVENTS").is_some() {
                eprintln!("event: {e:?}");
            }
            if f(&e) {
                return e;
            }
        }
    }
    /// The next presence of `contact` (other events skipped).
    pub async fn presence_of(
        &mut self,
        contact: &str,
    ) -> (pontoon_core::legacy::Availability, Option<String>) {
        match self
            .wait_for(
                |e| matches!(e, LegacyEvent::ContactPresence { contact: c, .. } if c == contact),
            )
            .await
        {
            LegacyEvent::ContactPresence {
                availability,
                status,
                ..
            } => (availability, status),
            _ => unreachable!(),
        }
    }
}
