//! Criterion micro-benchmark of Pontoon's per-message path (issue 8), in both directions.
//! See the crate docs (`src/lib.rs`) for which steps are the real functions.
//!
//! `cargo bench -p pontoon-bench --bench message_path` (add `-- --quick` for a short run).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use pontoon_bench::{GROUPCHAT_STANZA, IrcToXmpp, PRIVMSG_LINE, XmppToIrc};

fn message_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("message_path");
    g.throughput(Throughput::Elements(1));
    let mut x = XmppToIrc::new(GROUPCHAT_STANZA).unwrap();
    g.bench_function("xmpp_to_irc", |b| b.iter(|| black_box(x.step().unwrap())));
    let mut xr = XmppToIrc::new(GROUPCHAT_STANZA).unwrap();
    g.bench_function("xmpp_to_irc_with_reflection", |b| {
        b.iter(|| black_box(xr.step_with_reflection().unwrap()))
    });
    let mut i = IrcToXmpp::new(PRIVMSG_LINE).unwrap();
    g.bench_function("irc_to_xmpp", |b| b.iter(|| black_box(i.step().unwrap())));
    g.finish();
}

criterion_group!(benches, message_path);
criterion_main!(benches);
