//! The transports built into this binary, by name.

use std::sync::Arc;

use pontoon_core::Transport;

/// Names of the transports this build offers.
pub fn available() -> Vec<&'static str> {
    [
        #[cfg(feature = "test-transport")]
        "test",
    ]
    .into_iter()
    .collect()
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
