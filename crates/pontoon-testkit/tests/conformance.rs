//! The conformance suite against the test network, in both flavours: plain (every verb
//! degraded by the core, as on ngircd) and rich (every verb native, as on Matrix).

use std::sync::Arc;

use pontoon_core::legacy::Verbs;
use pontoon_testkit::TestTransport;
use pontoon_testkit::conformance::{self, Meeting};
use pontoon_testkit::harness::{Harness, Options, enabled};

async fn run(transport: TestTransport, verbs: Verbs) {
    let transport = Arc::new(transport);
    let mut peer = transport.peer("bob");
    let mut h = Harness::start_with(Options {
        transport: transport.clone(),
        ..Options::new(enabled())
    })
    .await;
    let meeting = Meeting {
        user: "anna@localhost/phone",
        room_jid: "#lobby@test.localhost",
        room: "#lobby",
        nick: "anna",
    };
    conformance::run(&mut h, &mut peer, &meeting, verbs).await;
    h.shutdown.cancel();
}

#[tokio::test]
async fn plain_test_network() {
    run(TestTransport::default(), Verbs::default()).await;
}

#[tokio::test]
async fn rich_test_network() {
    run(TestTransport::rich(), Verbs::ALL).await;
}
