//! A user's settings per network or per room ([`crate::settings`]): showing, setting and
//! unsetting, one implementation whatever interface asks (the chat commands and the
//! ad-hoc form of `crate::settings::commands`). Each answer is a sentence for the user; a
//! change also gives the scope's values, for the running session.

use crate::settings::{Scope, SettingSpec, Settings, Values};
use crate::state::TransportState;
use crate::transport::Transport;

use super::OpsError;

/// What changed, for the user and for the running session.
#[derive(Debug)]
pub struct Changed {
    /// The sentence for the user.
    pub text: String,
    /// The network's or room's values now.
    pub values: Values,
}

/// The settings of `scope` (for [`ONLY_NETWORK`](crate::settings::ONLY_NETWORK) on a
/// transport that has several: those every network has), as text.
pub async fn show(
    transport: &dyn Transport,
    state: &TransportState,
    scope: &Scope,
) -> Result<String, OpsError> {
    let specs = scope.specs(transport.descriptor());
    let settings = Settings::load_from(state, scope.state_key()).await?;
    let empty = Values::new();
    let key = scope.key();
    let values = settings.network(&key).unwrap_or(&empty);
    let mut text = format!("{}:", scope.title());
    for spec in specs {
        let value = match (values.get(&spec.name), &spec.default) {
            (Some(v), _) => shown(transport, spec, v),
            (None, Some(default)) => format!("(not set: {default})"),
            (None, None) => "(not set)".to_owned(),
        };
        text.push_str(&format!("\n  {} = {value} - {}", spec.name, spec.help));
    }
    text.push_str(match scope {
        Scope::Network(_) => {
            "\nChange one with \"set <name> <value>\", clear it with \"unset <name>\"."
        }
        Scope::Room(_) => {
            "\nChange one with \"/set <name> <value>\" here, clear it with \"/unset <name>\"."
        }
    });
    Ok(text)
}

/// Sets `name` of `scope` to `value`, after the spec's and the transport's checks.
pub async fn set(
    transport: &dyn Transport,
    state: &TransportState,
    scope: &Scope,
    name: &str,
    value: &str,
) -> Result<Changed, OpsError> {
    let spec = spec(transport, scope, name)?;
    let key = scope.key();
    let value = spec
        .check(value)
        .and_then(|v| transport.check_setting(&key, name, &v))
        .map_err(|e| OpsError::Invalid(e.0))?;
    let mut settings = Settings::load_from(state, scope.state_key()).await?;
    let text = format!("{name} is now {}.", shown(transport, spec, &value));
    settings
        .set_within(&key, name, value, scope.limit())
        .map_err(|e| OpsError::Invalid(e.0))?;
    settings.save_to(state, scope.state_key()).await?;
    Ok(Changed {
        text,
        values: settings.network(&key).cloned().unwrap_or_default(),
    })
}

/// Clears `name` of `scope`.
pub async fn unset(
    transport: &dyn Transport,
    state: &TransportState,
    scope: &Scope,
    name: &str,
) -> Result<Changed, OpsError> {
    spec(transport, scope, name)?;
    let key = scope.key();
    let mut settings = Settings::load_from(state, scope.state_key()).await?;
    let text = if settings.unset(&key, name) {
        settings.save_to(state, scope.state_key()).await?;
        format!("{name} is not set any more.")
    } else {
        format!("{name} was not set.")
    };
    Ok(Changed {
        text,
        values: settings.network(&key).cloned().unwrap_or_default(),
    })
}

/// How `value` of `spec` is shown: as the transport says, else as its kind allows.
pub fn shown(transport: &dyn Transport, spec: &SettingSpec, value: &str) -> String {
    transport
        .show_setting(&spec.name, value)
        .unwrap_or_else(|| spec.shown(value))
}

fn spec<'a>(
    transport: &'a dyn Transport,
    scope: &Scope,
    name: &str,
) -> Result<&'a SettingSpec, OpsError> {
    let specs = scope.specs(transport.descriptor());
    specs.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        OpsError::NotFound(if names.is_empty() {
            "this transport has no settings here".to_owned()
        } else {
            format!("no setting {name:?}: the settings are {}", names.join(", "))
        })
    })
}
