//! A client's stream to server mode, whole: header, STARTTLS, SASL (PLAIN with any
//! base64), resource binding, XEP-0198 (enable, `<r/>`, `<a/>`, resume with any id) and
//! stanzas once bound. Any bytes end in stanzas, a stream error or a close, never a
//! panic or a hang.
//!
//! The input is split at the first 0xFF byte (never valid UTF-8, so never in a real
//! stream): what comes before is sent at once, what comes after once the server has
//! answered, which lets the fuzzer reach the states after negotiation.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pontoon_xmpp::c2s::{AuthOutcome, AuthRequest, C2sConfig, C2sEvent, C2sServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

struct World {
    rt: tokio::runtime::Runtime,
    server: C2sServer,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let mut cfg = C2sConfig::new(vec!["gw.localhost".to_owned()], None);
        cfg.allow_plaintext_on_loopback = true;
        cfg.auth_attempts_per_minute = 1_000_000;
        cfg.max_auth_failures = 3;
        let (tx, mut rx) = mpsc::channel::<C2sEvent>(1024);
        let server = rt.block_on(async {
            // What the router would do with the events: here, nothing.
            tokio::spawn(async move { while rx.recv().await.is_some() {} });
            C2sServer::new(
                cfg,
                |req: AuthRequest| async move {
                    if req.username == "user" && req.password.expose() == "pw" {
                        AuthOutcome::Success(Box::new(()))
                    } else {
                        AuthOutcome::NotAuthorized("wrong".to_owned())
                    }
                },
                tx,
            )
            .expect("server")
        });
        World { rt, server }
    })
}

/// `PONTOON_FUZZ_SHOW=1`: print what the server answered (to read what an input does).
fn show() -> bool {
    static SHOW: OnceLock<bool> = OnceLock::new();
    *SHOW.get_or_init(|| std::env::var_os("PONTOON_FUZZ_SHOW").is_some())
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let (first, later) = match data.iter().position(|&b| b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let peer: SocketAddr = "127.0.0.1:5555".parse().expect("address");
    w.rt.block_on(async {
        let (client, server_side) = tokio::io::duplex(1 << 16);
        let server = w.server.clone();
        let serving = tokio::spawn(async move { server.serve_memory(server_side, peer).await });
        let (mut rd, mut wr) = tokio::io::split(client);
        let reading = tokio::spawn(async move {
            let mut got = Vec::new();
            let mut buf = vec![0u8; 1 << 16];
            while let Ok(n) = rd.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                if show() {
                    got.extend_from_slice(&buf[..n]);
                }
            }
            if show() {
                eprintln!("server sent:\n{}", String::from_utf8_lossy(&got));
            }
        });
        let _ = wr.write_all(first).await;
        // Time is paused: this lets the server answer without waiting in real time.
        tokio::time::sleep(Duration::from_millis(10)).await;
        let _ = wr.write_all(later).await;
        let _ = wr.shutdown().await;
        drop(wr);
        // The server must end the stream by itself (paused time runs its timers at once).
        let ended = tokio::time::timeout(Duration::from_secs(3600), serving).await;
        assert!(ended.is_ok(), "the connection never ended");
        let _ = reading.await;
    });
});
