//! The transport against InspIRCd 3 + Atheme (SASL PLAIN, echo-message, server-time),
//! both started by the test in a temp dir on free loopback ports.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use pontoon_core::Transport;
use pontoon_core::legacy::{LegacyAccount, LegacyCommand, LegacyEvent};
use pontoon_irc::{IrcConfig, IrcTransport, ServerAddr};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};

const INSPIRCD: &str = "/usr/sbin/inspircd";
const ATHEME: &str = "/usr/bin/atheme-services";

struct Net {
    _dir: tempfile::TempDir,
    ircd: Child,
    services: Child,
    port: u16,
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = self.services.start_kill();
        let _ = self.ircd.start_kill();
    }
}

fn free_port() -> u16 {
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

fn inspircd_conf(d: &str, port: u16, link: u16) -> String {
    format!(
        r#"<server name="irc.pontoon.test" description="Pontoon test IRC" network="PontoonTest" id="001">
<admin name="Test" nick="test" email="test@pontoon.test">
<path configdir="{d}" datadir="{d}/data" logdir="{d}/logs" runtimedir="{d}/run">
<pid file="{d}/run/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/logs/ircd.log">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link}" type="servers">
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
<module name="spanningtree">
<module name="services_account">
<module name="sasl">
<sasl target="services.pontoon.test">
<module name="svshold">
<module name="servprotect">
<link name="services.pontoon.test" ipaddr="127.0.0.1" port="{link}" allowmask="127.0.0.1/32" timeout="60" sendpass="linkpass" recvpass="linkpass">
<uline server="services.pontoon.test" silent="yes">
"#
    )
}

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

async fn start_network() -> Net {
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
    for sub in ["data", "logs", "run", "atheme"] {
        std::fs::create_dir_all(dir.path().join(sub)).unwrap();
    }
    std::fs::write(
        dir.path().join("inspircd.conf"),
        inspircd_conf(&d, port, link),
    )
    .unwrap();
    std::fs::write(dir.path().join("motd.txt"), "test\n").unwrap();
    std::fs::write(dir.path().join("atheme/atheme.conf"), atheme_conf(link)).unwrap();
    std::fs::write(dir.path().join("atheme/services.db"), SERVICES_DB).unwrap();
    let mut cmd = Command::new(INSPIRCD);
    cmd.arg("--nofork")
        .arg("--config")
        .arg(dir.path().join("inspircd.conf"));
    if is_root() {
        cmd.arg("--runasroot");
    }
    let ircd = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("cannot start inspircd");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "inspircd did not listen on {port}"
        );
        sleep(Duration::from_millis(50)).await;
    }
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
    Net {
        _dir: dir,
        ircd,
        services,
        port,
    }
}

fn transport(port: u16) -> IrcTransport {
    IrcTransport::new(IrcConfig {
        fixed_server: Some(ServerAddr {
            host: "127.0.0.1".into(),
            port,
            tls: false,
            verify_cert: true,
        }),
        connect_timeout: Duration::from_secs(5),
        ..IrcConfig::default()
    })
}

async fn login(
    t: &IrcTransport,
    nick: &str,
    password: &str,
) -> (mpsc::Sender<LegacyCommand>, mpsc::Receiver<LegacyEvent>) {
    let (etx, erx) = mpsc::channel(256);
    let tx = t.start_session(
        LegacyAccount {
            legacy_id: nick.into(),
            secret: Some(password.into()),
            options: BTreeMap::new(),
        },
        etx,
    );
    (tx, erx)
}

async fn next_non_notice(rx: &mut mpsc::Receiver<LegacyEvent>) -> LegacyEvent {
    loop {
        let e = timeout(Duration::from_secs(15), rx.recv())
            .await
            .expect("no event")
            .expect("session ended");
        if !matches!(e, LegacyEvent::Notice { .. }) {
            return e;
        }
    }
}

#[tokio::test]
async fn sasl_and_echo_message_on_inspircd_atheme() {
    timeout(Duration::from_secs(90), async {
        let net = start_network().await;
        let t = transport(net.port);

        // Wrong password: the login fails with the SASL reason.
        let (_tx, mut rx) = login(&t, "seeded", "not-the-password").await;
        assert_eq!(
            next_non_notice(&mut rx).await,
            LegacyEvent::LoginFailed { reason: "SASL authentication failed: wrong password?".into() }
        );

        // Right password: connected, and logged in (NickServ does not ask to identify).
        let (tx, mut rx) = login(&t, "seeded", "plainpass1").await;
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Connected);

        // echo-message + server-time: the reflection comes from the server's echo.
        tx.send(LegacyCommand::JoinRoom { room: "#sasl".into(), nick: "seeded".into(), password: None }).await.unwrap();
        assert!(matches!(next_non_notice(&mut rx).await, LegacyEvent::RoomJoined { nick, .. } if nick == "seeded"));
        tx.send(LegacyCommand::SendRoomMessage { room: "#sasl".into(), body: "echoed".into(), id: Some("e1".into()) }).await.unwrap();
        match next_non_notice(&mut rx).await {
            LegacyEvent::RoomMessage { nick, body, id, time, .. } => {
                assert_eq!((nick.as_str(), body.as_str(), id.as_deref()), ("seeded", "echoed", Some("e1")));
                // The echo carries a server-time tag, but it is live traffic: no delay.
                assert!(time.is_none(), "a live echo must not be marked as delayed: {time:?}");
            }
            e => panic!("{e:?}"),
        }
        tx.send(LegacyCommand::Disconnect { reason: "done".into() }).await.unwrap();
        // The server's ERROR after our QUIT is a goodbye, not a lost connection.
        assert_eq!(next_non_notice(&mut rx).await, LegacyEvent::Disconnected { reason: "done".into() });
        drop(net);
    })
    .await
    .expect("test timed out");
}
