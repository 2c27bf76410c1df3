//! Operator commands on the store: registrations on a user's behalf, and transport policy.
//!
//! They work while the gateway runs (the store is shared); a running gateway reads policy
//! again at the next registration or login, and a user registered here is logged in at
//! their next presence to the transport.

use std::collections::BTreeMap;
use std::io::BufRead;

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use pontoon_core::ops::OpsError;
use pontoon_core::ops::audit::{self, action};
use pontoon_core::ops::policy::{self, PolicyChange};
use pontoon_core::ops::registrations as ops;
use pontoon_store::{Registration, RegistrationQuery, TransportPolicy};

use crate::config::Config;
use crate::run::open_store;
use crate::transports;

/// `pontoon register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The user's bare JID (user@example.org).
    pub jid: String,
    /// The transport name (as in the configuration).
    pub transport: String,
    /// Legacy user name.
    #[arg(long)]
    pub username: String,
    #[command(flatten)]
    pub secret: SecretArgs,
    /// Further registration fields, as key=value (repeatable).
    #[arg(long = "option", value_name = "KEY=VALUE")]
    pub options: Vec<String>,
}

/// How the legacy password is given.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// Legacy password (visible in the process list; prefer --password-stdin).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the legacy password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
}

impl SecretArgs {
    fn read(&self) -> anyhow::Result<Option<String>> {
        if self.password_stdin {
            let mut line = String::new();
            std::io::stdin().lock().read_line(&mut line)?;
            return Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()));
        }
        Ok(self.password.clone())
    }
}

/// `pontoon registrations ...`.
#[derive(Debug, Subcommand)]
pub enum RegistrationsCommand {
    /// List registrations.
    List {
        /// Only this transport.
        #[arg(long)]
        transport: Option<String>,
        /// Only JIDs or legacy ids containing this text.
        #[arg(long)]
        search: Option<String>,
        /// At most this many rows.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Skip this many rows.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
    /// Change a registration (only the fields given).
    Edit {
        /// The user's bare JID.
        jid: String,
        /// The transport name.
        transport: String,
        /// New legacy user name.
        #[arg(long)]
        username: Option<String>,
        #[command(flatten)]
        secret: SecretArgs,
        /// Options to set, as key=value (repeatable).
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Delete a registration.
    Delete {
        /// The user's bare JID.
        jid: String,
        /// The transport name.
        transport: String,
    },
}

/// `pontoon policy ...`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the policy of one transport or of every configured one.
    Show {
        /// The transport name.
        transport: Option<String>,
    },
    /// Change policy keys: enabled, public_registration, manual_registration_only,
    /// debug_logging (true/false), allowed_servers, allow_list (comma-separated),
    /// history_days, history_per_room (numbers; 0 days: no archive, 0 per room: no count
    /// limit), always_online_default (true/false: users stay online while away unless they
    /// say otherwise), always_online_limit (a number: at most this many users kept online
    /// while away at once; 0: nobody is), and the transport's options as
    /// options.NAME=VALUE (options.NAME= removes one). Applies to the running gateway
    /// within a second.
    Set {
        /// The transport name.
        transport: String,
        /// key=value pairs.
        #[arg(required = true, value_name = "KEY=VALUE")]
        settings: Vec<String>,
    },
}

fn parse_pairs(pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
                .ok_or_else(|| anyhow!("{p:?} is not KEY=VALUE"))
        })
        .collect()
}

fn check_jid(jid: &str) -> anyhow::Result<jid::BareJid> {
    let bare = jid::BareJid::new(jid).with_context(|| format!("{jid:?} is not a valid JID"))?;
    if bare.node().is_none() {
        bail!("{jid:?} is a domain; a user's bare JID (user@example.org) is needed");
    }
    Ok(bare)
}

/// Builds the registration from form values as the transport checks them under its options
/// in force (its stored policy: a fixed server, `allowed_networks`...), with the rules every
/// interface shares (`pontoon_core::ops`).
async fn registration(
    cfg: &Config,
    store: &pontoon_store::Store,
    jid: &jid::BareJid,
    transport_name: &str,
    values: BTreeMap<String, String>,
) -> anyhow::Result<Registration> {
    let options = store
        .transport_policy(transport_name)
        .await?
        .unwrap_or_default()
        .options;
    // A backend's form is its hello's: the backend is started for it (and ends with this
    // command), as the running gateway started its own.
    let transport = match cfg.transports.get(transport_name) {
        Some(table) => transports::open(transport_name, table, &cfg.base_dir, &options).await,
        None => transports::build(transport_name, &options),
    }
    .map_err(|e| anyhow!(e))?;
    ops::prepare(
        transport_name,
        jid,
        ops::Details::from_form(values),
        ops::Requester::Operator,
        |values| transport.account_from_form(values).map_err(|e| e.0),
    )
    .map_err(|e| anyhow!("refused by the {transport_name} transport: {e}"))
}

/// Writes the audit entry of a registration added or edited from the command line.
async fn audit_registration(store: &pontoon_store::Store, what: &str, reg: &Registration) {
    let detail = audit::registration_detail(reg);
    let (cli, jid) = (audit::CLI_ACTOR, Some(reg.jid.as_str()));
    audit::record(store, cli, what, &reg.transport, jid, &detail).await;
}

fn explain(e: OpsError) -> anyhow::Error {
    match e {
        OpsError::Store(e) => anyhow::Error::new(e),
        other => anyhow!("{other}"),
    }
}

/// `pontoon register`.
pub async fn register(cfg: &Config, args: RegisterArgs) -> anyhow::Result<()> {
    let jid = check_jid(&args.jid)?;
    let mut values = parse_pairs(&args.options)?;
    values.insert("username".into(), args.username.clone());
    if let Some(p) = args.secret.read()? {
        values.insert("password".into(), p);
    }
    let store = open_store(cfg).await?;
    let result = async {
        let reg = registration(cfg, &store, &jid, &args.transport, values).await?;
        ops::add(&store, &reg, &args.transport)
            .await
            .map_err(explain)?;
        audit_registration(&store, action::REGISTRATION_ADD, &reg).await;
        Ok::<_, anyhow::Error>(reg)
    }
    .await;
    store.close().await;
    let reg = result?;
    println!(
        "registered {} with {} as {:?}; they are logged in at their next presence to the transport",
        reg.jid, reg.transport, reg.legacy_id
    );
    Ok(())
}

/// `pontoon registrations ...`.
pub async fn registrations(cfg: &Config, cmd: RegistrationsCommand) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let result = registrations_on(cfg, &store, cmd).await;
    store.close().await;
    result
}

async fn registrations_on(
    cfg: &Config,
    store: &pontoon_store::Store,
    cmd: RegistrationsCommand,
) -> anyhow::Result<()> {
    match cmd {
        RegistrationsCommand::List {
            transport,
            search,
            limit,
            offset,
        } => {
            let rows = store
                .list_registrations(&RegistrationQuery {
                    transport,
                    search,
                    limit,
                    offset,
                    ..Default::default()
                })
                .await?;
            println!(
                "{:<40} {:<10} {:<30} password",
                "JID", "TRANSPORT", "LEGACY ID"
            );
            for r in &rows {
                println!(
                    "{:<40} {:<10} {:<30} {}",
                    r.jid,
                    r.transport,
                    r.legacy_id,
                    if r.secret.is_some() { "set" } else { "-" }
                );
            }
            println!("({} shown)", rows.len());
        }
        RegistrationsCommand::Edit {
            jid,
            transport,
            username,
            secret,
            options,
        } => {
            let jid = check_jid(&jid)?;
            let Some(old) = store.registration(jid.as_str(), &transport).await? else {
                bail!("{jid} is not registered with {transport}");
            };
            let mut values = old.options.clone();
            values.extend(parse_pairs(&options)?);
            values.insert("username".into(), username.unwrap_or(old.legacy_id.clone()));
            if let Some(p) = secret.read()?.or(old.secret.clone()) {
                values.insert("password".into(), p);
            }
            let reg = registration(cfg, store, &jid, &transport, values).await?;
            ops::save(store, &reg, &transport).await.map_err(explain)?;
            audit_registration(store, action::REGISTRATION_EDIT, &reg).await;
            println!("updated {} on {}", reg.jid, reg.transport);
        }
        RegistrationsCommand::Delete { jid, transport } => {
            let jid = check_jid(&jid)?;
            if store.delete_registration(jid.as_str(), &transport).await? {
                let (cli, delete) = (audit::CLI_ACTOR, action::REGISTRATION_DELETE);
                audit::record(store, cli, delete, &transport, Some(jid.as_str()), "").await;
                println!("deleted {jid} from {transport}");
            } else {
                bail!("{jid} is not registered with {transport}");
            }
        }
    }
    Ok(())
}

fn show(name: &str, p: &TransportPolicy) {
    println!("[{name}]");
    println!("enabled = {}", p.enabled);
    println!("public_registration = {}", p.public_registration);
    println!("manual_registration_only = {}", p.manual_registration_only);
    println!("allowed_servers = {:?}", p.allowed_servers);
    println!("allow_list = {:?}", p.allow_list);
    println!("debug_logging = {}", p.debug_logging);
    println!("history_days = {}", p.history_days);
    println!("history_per_room = {}", p.history_per_room);
    println!("always_online_default = {}", p.always_online_default);
    println!("always_online_limit = {}", p.always_online_limit);
    for (key, value) in &p.options {
        println!("{}{key} = {value:?}", policy::OPTION_PREFIX);
    }
}

/// `pontoon policy ...`.
pub async fn policy(cfg: &Config, cmd: PolicyCommand) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let result = async {
        match cmd {
            PolicyCommand::Show { transport } => {
                let names: Vec<String> = match transport {
                    Some(t) => vec![t],
                    None => cfg.transports.keys().cloned().collect(),
                };
                for name in names {
                    let seed = cfg
                        .transports
                        .get(&name)
                        .map(|t| t.policy_seed())
                        .unwrap_or_default();
                    let p = store.seed_transport_policy(&name, &seed).await?;
                    show(&name, &p);
                }
            }
            PolicyCommand::Set {
                transport: name,
                settings,
            } => {
                // An unknown transport name is refused before anything is stored.
                let table = cfg.transports.get(&name);
                transports::check(&name, table, &BTreeMap::new()).map_err(|e| anyhow!(e))?;
                let seed = cfg
                    .transports
                    .get(&name)
                    .map(|t| t.policy_seed())
                    .unwrap_or_default();
                let current = store.seed_transport_policy(&name, &seed).await?;
                // The same checks as the console's and the API's (pontoon_core::ops::policy);
                // options are checked by building the transport with them.
                let change = PolicyChange::from_pairs(&parse_pairs(&settings)?, &current.options)
                    .and_then(|c| c.checked(|o| transports::check(&name, table, o)))
                    .map_err(|e| anyhow!(e))?;
                let summary = change.summary();
                let (before, p) = policy::change(&store, &name, change)
                    .await
                    .map_err(|e| anyhow!(e))?;
                if p != before {
                    let (cli, change) = (audit::CLI_ACTOR, action::POLICY_CHANGE);
                    audit::record(&store, cli, change, &name, None, &summary).await;
                }
                show(&name, &p);
            }
        }
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}
