//! The component handshake (XEP-0114) against a hostile XMPP server: any answer gives the
//! stream id or a typed error, never a panic.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use pontoon_xmpp::ComponentConfig;
use pontoon_xmpp::component::handshake_over;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fuzz_target!(|data: &[u8]| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime");
    let cfg = ComponentConfig::new("127.0.0.1", 5347, "irc.localhost", "secret");
    rt.block_on(async {
        let (ours, theirs) = tokio::io::duplex(1 << 16);
        let answer = data.to_vec();
        let server = tokio::spawn(async move {
            let (mut rd, mut wr) = tokio::io::split(theirs);
            let _ = wr.write_all(&answer).await;
            let _ = wr.shutdown().await;
            let mut sink = Vec::new();
            let _ = rd.read_to_end(&mut sink).await;
        });
        let done = tokio::time::timeout(Duration::from_secs(60), handshake_over(&cfg, ours)).await;
        assert!(done.is_ok(), "the handshake never ended");
        server.abort();
    });
});
