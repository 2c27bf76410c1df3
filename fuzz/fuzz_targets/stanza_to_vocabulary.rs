//! A user's message stanza to what it asks of the network (`inbound::read_message` and the
//! per-XEP readers): read as Pontoon reads it, from a stream, then mapped. Any stanza gives
//! a verb or a refusal with a condition, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pontoon_core::inbound;
use pontoon_xmpp::{Frame, Limits, StreamReader};

const HEADER: &[u8] = b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='irc.localhost' version='1.0'>";

fuzz_target!(|data: &[u8]| {
    let mut input = HEADER.to_vec();
    input.extend_from_slice(data);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut reader = StreamReader::new(&input[..], Limits::default());
        for _ in 0..=input.len() {
            match reader.next().await {
                Ok(Frame::End) | Err(_) => break,
                Ok(Frame::Stanza(el)) => {
                    match inbound::read_message(&el) {
                        Ok(_verb) => {}
                        Err(refusal) => assert!(!refusal.condition.is_empty()),
                    }
                    let _ = inbound::chat_state::read(&el);
                    let _ = inbound::markers::displayed(&el);
                    let _ = inbound::correct::target(&el);
                }
                Ok(_) => {}
            }
        }
    });
});
