//! Listing registrations for the operator at scale: search, the online filter (from the
//! live sessions), sorting and one page, with each row's session state; shared by the
//! API and the console.

use std::collections::HashMap;

use pontoon_core::SessionState;
use pontoon_store::{OnlineFilter, Registration, RegistrationQuery, RegistrationSort};

use super::{OpError, control};
use crate::Gateway;

/// Which registrations to list, in which order.
#[derive(Clone, Debug, Default)]
pub(crate) struct RegistrationFilter {
    /// Only this transport.
    pub(crate) transport: Option<String>,
    /// Case-insensitive substring of the JID or the legacy id.
    pub(crate) search: Option<String>,
    /// Only users with a live session (true) or without (false).
    pub(crate) online: Option<bool>,
    /// The order.
    pub(crate) sort: RegistrationSort,
    /// Reversed order (see [`sort_named`] for each sort's natural direction).
    pub(crate) descending: bool,
}

/// A sort by its name and an order (`asc`, `desc`; empty: the sort's own, which is
/// newest first for the times and A to Z for the names).
pub(crate) fn sort_named(name: &str, order: &str) -> Result<(RegistrationSort, bool), OpError> {
    let sort = if name.is_empty() {
        RegistrationSort::Jid
    } else {
        RegistrationSort::from_name(name).ok_or_else(|| {
            OpError::BadRequest(format!(
                "unknown sort {name:?} (jid, transport, last_login, created)"
            ))
        })?
    };
    let descending = match order {
        "" => matches!(
            sort,
            RegistrationSort::LastLogin | RegistrationSort::Created
        ),
        "asc" => false,
        "desc" => true,
        other => {
            return Err(OpError::BadRequest(format!(
                "unknown order {other:?} (asc, desc)"
            )));
        }
    };
    Ok((sort, descending))
}

/// One listed registration and the state of its user's session on that transport
/// (`None`: no session).
pub(crate) type Listed = (Registration, Option<SessionState>);

/// One page of the registrations matching `filter` and the number of all that match.
/// The session states come from the running services, asked once per transport; a
/// transport that does not answer makes the list fail (its users' states are unknown).
pub(crate) async fn list_registrations(
    gw: &Gateway,
    filter: &RegistrationFilter,
    limit: u32,
    offset: u32,
) -> Result<(u64, Vec<Listed>), OpError> {
    if let Some(t) = &filter.transport {
        control(gw, t)?;
    }
    let live = live_sessions(gw, filter.transport.as_deref()).await?;
    let search = filter
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let q = RegistrationQuery {
        transport: filter.transport.clone(),
        search: search.map(str::to_owned),
        online: filter.online.map(|keep| OnlineFilter {
            keep,
            users: live.keys().cloned().collect(),
        }),
        sort: filter.sort,
        descending: filter.descending,
        limit: limit.max(1),
        offset,
    };
    let items = gw.store.list_registrations(&q).await?;
    let total = gw.store.count_registrations_matching(&q).await?;
    let items = items
        .into_iter()
        .map(|r| {
            let state = live.get(&(r.transport.clone(), r.jid.clone())).copied();
            (r, state)
        })
        .collect();
    Ok((total, items))
}

/// (transport, user) to session state, for one transport or all.
async fn live_sessions(
    gw: &Gateway,
    transport: Option<&str>,
) -> Result<HashMap<(String, String), SessionState>, OpError> {
    let mut live = HashMap::new();
    for c in gw
        .services
        .iter()
        .filter(|c| transport.is_none_or(|t| c.transport() == t))
    {
        for s in c.sessions().await? {
            live.insert((c.transport().to_owned(), s.user.to_string()), s.state);
        }
    }
    Ok(live)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_and_orders_are_named() {
        assert_eq!(sort_named("", ""), Ok((RegistrationSort::Jid, false)));
        assert_eq!(
            sort_named("last_login", ""),
            Ok((RegistrationSort::LastLogin, true))
        );
        assert_eq!(
            sort_named("created", "asc"),
            Ok((RegistrationSort::Created, false))
        );
        assert_eq!(
            sort_named("transport", "desc"),
            Ok((RegistrationSort::Transport, true))
        );
        assert_eq!(
            sort_named("age", ""),
            Err(OpError::BadRequest(
                "unknown sort \"age\" (jid, transport, last_login, created)".into()
            ))
        );
        assert!(sort_named("jid", "up").is_err());
    }
}
