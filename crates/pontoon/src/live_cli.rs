//! `pontoon status`, `pontoon sessions` and `pontoon announce`: commands that ask the
//! running gateway (not the store) through its REST API ([`crate::api_client`]), so they
//! show and do what the process is doing now.

use anyhow::bail;
use clap::Args;
use serde_json::{Value, json};

use pontoon_admin::segment;

use crate::api_client::ApiClient;
use crate::config::Config;

/// `pontoon status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print the API's JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

/// `pontoon sessions`.
#[derive(Debug, Args)]
pub struct SessionsArgs {
    /// Only this transport's sessions.
    #[arg(long)]
    transport: Option<String>,
    /// Only sessions in this state (connecting, online, reconnecting, ending).
    #[arg(long)]
    state: Option<String>,
    /// Only sessions whose user JID or legacy id contains this (case-insensitive).
    #[arg(long)]
    search: Option<String>,
    /// Print the sessions as a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

/// The API's largest page; `sessions` asks page after page until the last.
const PAGE: u32 = 1000;
/// At most this many pages (10 million sessions): a bound, should the API never say "last".
const MAX_PAGES: u32 = 10_000;

/// `pontoon announce`.
#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// The transport whose users get the message.
    transport: String,
    /// The message, sent from the transport's address to every user with a session.
    #[arg(required = true, num_args = 1..)]
    text: Vec<String>,
}

/// Runs `f` with a client of the gateway `cfg` describes, then revokes its token.
async fn with_api<T>(
    cfg: &Config,
    f: impl AsyncFnOnce(&ApiClient) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let api = ApiClient::connect(cfg).await?;
    let result = f(&api).await;
    api.close().await;
    result
}

/// `pontoon status`: version, uptime and each transport's state and counters.
pub async fn status(cfg: &Config, args: StatusArgs) -> anyhow::Result<()> {
    let v = with_api(cfg, async |api| api.get("/status").await).await?;
    if args.json {
        println!("{v:#}");
        return Ok(());
    }
    let server_mode = v["mode"].as_str() == Some("server");
    println!(
        "Pontoon {} in {} mode, up {}",
        text(&v["version"]),
        text(&v["mode"]),
        duration(v["uptime_seconds"].as_u64().unwrap_or(0))
    );
    let mut header = vec!["TRANSPORT", "DOMAIN", "ENABLED"];
    // Server mode has no component link.
    if !server_mode {
        header.push("LINK");
    }
    header.extend(["ONLINE", "CONNECTING", "TO LEGACY", "TO XMPP", "ERRORS"]);
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for t in v["transports"].as_array().into_iter().flatten() {
        let s = &t["sessions"];
        let connecting =
            s["connecting"].as_u64().unwrap_or(0) + s["reconnecting"].as_u64().unwrap_or(0);
        let mut row = vec![text(&t["name"]), text(&t["domain"]), yes_no(&t["enabled"])];
        if !server_mode {
            let up = t["link_up"].as_bool() == Some(true);
            row.push(if up { "up" } else { "down" }.to_owned());
        }
        row.extend([
            text(&s["online"]),
            connecting.to_string(),
            text(&t["messages_to_legacy"]),
            text(&t["messages_to_xmpp"]),
            text(&t["errors"]),
        ]);
        rows.push(row);
    }
    print_table(&rows);
    Ok(())
}

/// `pontoon sessions`: the legacy sessions the gateway holds now.
pub async fn sessions(cfg: &Config, args: SessionsArgs) -> anyhow::Result<()> {
    let mut filter = String::new();
    for (key, value) in [
        ("transport", &args.transport),
        ("state", &args.state),
        ("q", &args.search),
    ] {
        if let Some(v) = value {
            filter.push_str(&format!("&{key}={}", segment(v)));
        }
    }
    let list = with_api(cfg, async |api| {
        let mut items = Vec::new();
        let mut offset = Some(0);
        for _ in 0..MAX_PAGES {
            let Some(at) = offset else { break };
            let page = api
                .get(&format!("/sessions?limit={PAGE}&offset={at}{filter}"))
                .await?;
            items.extend(page["items"].as_array().cloned().unwrap_or_default());
            offset = page["next"].as_u64().and_then(|n| u32::try_from(n).ok());
        }
        anyhow::Ok(items)
    })
    .await?;
    if args.json {
        println!("{:#}", Value::Array(list));
        return Ok(());
    }
    if list.is_empty() {
        println!("no sessions");
        return Ok(());
    }
    let mut rows = vec![
        [
            "TRANSPORT",
            "USER",
            "LEGACY ID",
            "STATE",
            "RESOURCES",
            "ROOMS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for s in &list {
        rows.push(vec![
            text(&s["transport"]),
            text(&s["user"]),
            text(&s["legacy_id"]),
            text(&s["state"]),
            joined(&s["resources"]),
            s["rooms"].as_array().map_or(0, Vec::len).to_string(),
        ]);
    }
    print_table(&rows);
    println!("{} session(s)", list.len());
    Ok(())
}

/// `pontoon announce`: a message from the transport to every user with a session.
pub async fn announce(cfg: &Config, args: AnnounceArgs) -> anyhow::Result<()> {
    let message = args.text.join(" ");
    if message.trim().is_empty() {
        bail!("the message is empty");
    }
    let path = format!("/transports/{}/announce", segment(&args.transport));
    let body = json!({ "text": message });
    let v = with_api(cfg, async |api| api.post(&path, &body).await).await?;
    println!(
        "announcement sent to {} user(s) of {}",
        text(&v["sent"]),
        args.transport
    );
    Ok(())
}

/// A JSON value as a table cell: strings without quotes, null as `-`.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn yes_no(v: &Value) -> String {
    if v.as_bool() == Some(true) {
        "yes"
    } else {
        "no"
    }
    .to_owned()
}

fn joined(v: &Value) -> String {
    let items: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(",")
    }
}

/// `3d 4h`, `2h 5m`, `42s`.
fn duration(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{secs}s"),
        (0, 0, m) => format!("{m}m {}s", secs % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, _) => format!("{d}d {h}h"),
    }
}

/// Columns padded to their widest cell (the last one unpadded).
fn print_table(rows: &[Vec<String>]) {
    let columns = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..columns)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(super::duration(42), "42s");
        assert_eq!(super::duration(125), "2m 5s");
        assert_eq!(super::duration(7500), "2h 5m");
        assert_eq!(super::duration(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
    }

    #[test]
    fn names_cannot_change_the_path() {
        assert_eq!(pontoon_admin::segment("irc"), "irc");
        assert_eq!(pontoon_admin::segment("../x?y"), "..%2Fx%3Fy");
        assert_eq!(pontoon_admin::segment("é"), "%C3%A9");
    }
}
