//! The service driven in memory: stanzas in as the component link would deliver them,
//! stanzas out as it would send them, with the in-memory test transport and a real SQLite
//! store (`pontoon_testkit::harness`). The end-to-end suite repeats this through a real
//! Prosody. One module per concern.

mod adhoc;
mod archive;
mod away;
mod control;
mod invites;
mod limits;
mod outbox;
mod rich;
mod rooms;
mod threads;
mod users;
mod verbs;

use std::sync::Arc;
use std::time::Duration;

use minidom::Element;
use pontoon_core::{RebuildTransport, SessionState};
use pontoon_store::{Store, StoreKey, TransportPolicy};
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::*;
use pontoon_xmpp::component::LinkEvent;
