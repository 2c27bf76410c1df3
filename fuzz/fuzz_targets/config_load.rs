//! The configuration loader: any text, as `Config::load` reads it once the file is read
//! (TOML syntax and types, then the values and each transport's options), gives a
//! configuration or an error that names the file, without a panic; and what the binary
//! derives from a configuration that passed works on it.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pontoon::config::{Config, ConfigError};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/etc/pontoon/pontoon.toml");
    match Config::from_toml(path, text) {
        Ok(config) => {
            // What start-up, `check-config` and the operator commands read from it.
            let _ = config.warnings();
            let _ = config.tls_source();
            let _ = (config.data_dir(), config.store_url(), config.key_file());
            let _ = config.limits.stanza_rate();
            let _ = (config.server.listen_addr(), config.server.direct_tls_addr());
            let _ = config.server.allow_unauthenticated();
            let _ = (config.admin.admin_jids(), config.admin.secure_cookies());
            let _ = (config.admin.session_idle(), config.admin.session_max());
            for t in config.transports.values() {
                let _ = t.policy_seed();
            }
        }
        Err(e) => {
            let message = e.to_string();
            match e {
                ConfigError::Invalid(problems) => {
                    assert!(!problems.is_empty(), "Invalid without a problem");
                    for p in &problems {
                        assert!(p.location.starts_with("/etc/pontoon/pontoon.toml"), "{p}");
                    }
                }
                ConfigError::Parse { .. } => {
                    assert!(
                        message.starts_with("/etc/pontoon/pontoon.toml"),
                        "{message}"
                    )
                }
                ConfigError::Read { .. } => panic!("no file is read: {message}"),
            }
        }
    }
});
