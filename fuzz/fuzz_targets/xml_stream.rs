//! The XML stream reader with its limits: any bytes from a peer give frames or a typed
//! error, never a panic, and never a frame over the limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pontoon_xmpp::{Frame, Limits, StreamReader};

fuzz_target!(|data: &[u8]| {
    // Small limits, so the fuzzer reaches them with small inputs.
    let limits = Limits {
        max_stanza_bytes: 4096,
        max_depth: 16,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut reader = StreamReader::new(data, limits);
        // Every frame consumes input, so a stream of n bytes has at most n frames.
        for _ in 0..=data.len() {
            match reader.next().await {
                Ok(Frame::End) | Err(_) => break,
                Ok(Frame::Stanza(el)) => {
                    // What was accepted serializes again.
                    let _ = String::from(&el);
                }
                Ok(_) => {}
            }
        }
    });
});
