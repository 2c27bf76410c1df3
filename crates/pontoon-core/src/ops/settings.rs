//! A user's per-network settings ([`crate::settings`]): showing, setting and unsetting,
//! one implementation whatever interface asks (the chat commands of
//! `crate::settings::commands` today). Each answer is a sentence for the user; a change
//! also gives the network's values, for the running session.

use crate::settings::{ONLY_NETWORK, SettingSpec, Settings, Values};
use crate::state::TransportState;
use crate::transport::Transport;

use super::OpsError;

/// What changed, for the user and for the running session.
#[derive(Debug)]
pub struct Changed {
    /// The sentence for the user.
    pub text: String,
    /// The network's values now.
    pub values: Values,
}

/// The settings of `network` (or, for [`ONLY_NETWORK`] on a transport that has several,
/// of every network), as text.
pub async fn show(
    transport: &dyn Transport,
    state: &TransportState,
    network: &str,
) -> Result<String, OpsError> {
    let specs = &transport.descriptor().network_settings;
    let settings = Settings::load(state).await?;
    let empty = Values::new();
    let values = settings.network(network).unwrap_or(&empty);
    let mut text = match network {
        ONLY_NETWORK => "Your settings here:".to_owned(),
        n => format!("Your settings for {n}:"),
    };
    for spec in specs {
        let value = match (values.get(&spec.name), &spec.default) {
            (Some(v), _) => shown(transport, spec, v),
            (None, Some(default)) => format!("(not set: {default})"),
            (None, None) => "(not set)".to_owned(),
        };
        text.push_str(&format!("\n  {} = {value} - {}", spec.name, spec.help));
    }
    text.push_str("\nChange one with \"set <name> <value>\", clear it with \"unset <name>\".");
    Ok(text)
}

/// Sets `name` of `network` to `value`, after the spec's and the transport's checks.
pub async fn set(
    transport: &dyn Transport,
    state: &TransportState,
    network: &str,
    name: &str,
    value: &str,
) -> Result<Changed, OpsError> {
    let spec = spec(transport, name)?;
    let value = spec
        .check(value)
        .and_then(|v| transport.check_setting(network, name, &v))
        .map_err(|e| OpsError::Invalid(e.0))?;
    let mut settings = Settings::load(state).await?;
    let text = format!("{name} is now {}.", shown(transport, spec, &value));
    settings
        .set(network, name, value)
        .map_err(|e| OpsError::Invalid(e.0))?;
    settings.save(state).await?;
    Ok(Changed {
        text,
        values: settings.network(network).cloned().unwrap_or_default(),
    })
}

/// Clears `name` of `network`.
pub async fn unset(
    transport: &dyn Transport,
    state: &TransportState,
    network: &str,
    name: &str,
) -> Result<Changed, OpsError> {
    spec(transport, name)?;
    let mut settings = Settings::load(state).await?;
    let text = if settings.unset(network, name) {
        settings.save(state).await?;
        format!("{name} is not set any more.")
    } else {
        format!("{name} was not set.")
    };
    Ok(Changed {
        text,
        values: settings.network(network).cloned().unwrap_or_default(),
    })
}

/// How `value` of `spec` is shown: as the transport says, else as its kind allows.
pub fn shown(transport: &dyn Transport, spec: &SettingSpec, value: &str) -> String {
    transport
        .show_setting(&spec.name, value)
        .unwrap_or_else(|| spec.shown(value))
}

fn spec<'a>(transport: &'a dyn Transport, name: &str) -> Result<&'a SettingSpec, OpsError> {
    let specs = &transport.descriptor().network_settings;
    specs.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        OpsError::NotFound(if names.is_empty() {
            "this transport has no settings".to_owned()
        } else {
            format!("no setting {name:?}: the settings are {}", names.join(", "))
        })
    })
}
