//! The transports built into this binary, by name.

use std::sync::Arc;

use pontoon_core::Transport;

/// Names of the transports this build offers.
pub fn available() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut names = Vec::new();
    #[cfg(feature = "test-transport")]
    names.push("test");
    names
}

/// The transport named `name`, if this build has it.
pub fn get(name: &str) -> Option<Arc<dyn Transport>> {
    match name {
        #[cfg(feature = "test-transport")]
        "test" => Some(Arc::new(
            pontoon_core::test_transport::TestTransport::default(),
        )),
        _ => None,
    }
}
