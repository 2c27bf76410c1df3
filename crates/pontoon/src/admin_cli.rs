//! `pontoon admin ...`: web console administrators and REST API tokens.
//!
//! Like the other operator commands these work on the store directly, also while the
//! gateway runs: a new administrator can log in at once; deleting an administrator or
//! changing their password ends their console sessions at their next request (the console
//! checks the account's revision in the store on every request); a revoked token is
//! refused at its next use.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use pontoon_admin::admins::{self, AdminChange, Remover};
use pontoon_core::ops::audit;
use pontoon_store::{MIN_PASSWORD_CHARS, Store, check_new_password};

use crate::config::Config;
use crate::run::open_store;

/// `pontoon admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a console administrator, or set a new password for an existing one.
    Add(AddArgs),
    /// List console administrators.
    List,
    /// Delete a console administrator.
    Delete {
        /// The administrator's name.
        name: String,
    },
    /// Create, list and revoke REST API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// `pontoon admin add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The administrator's login name (1 to 64 characters, no spaces).
    pub name: String,
    /// Read the password from the first line of standard input (for scripts). Without it
    /// the password is asked twice on the terminal, without echo.
    #[arg(long)]
    pub password_stdin: bool,
}

/// `pontoon admin token ...`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once, on standard output, and never again.
    Create {
        /// A name for the token (who or what uses it), 1 to 64 characters, no spaces.
        name: String,
    },
    /// List tokens (names and dates; the tokens themselves are not stored).
    List,
    /// Revoke a token: requests that present it are refused from now on.
    Revoke {
        /// The token's name.
        name: String,
    },
}

/// Runs `pontoon admin ...`.
pub async fn admin(cfg: &Config, cmd: AdminCommand) -> anyhow::Result<()> {
    // Ask for the password before opening the store: a typo at the prompt should not
    // leave a half-done command behind, and the prompt should not wait on a database.
    let password = match &cmd {
        AdminCommand::Add(args) => Some(read_password(args)?),
        _ => None,
    };
    let store = open_store(cfg).await?;
    let result = run_on(&store, cmd, password).await;
    store.close().await;
    result
}

async fn run_on(store: &Store, cmd: AdminCommand, password: Option<String>) -> anyhow::Result<()> {
    match cmd {
        AdminCommand::Add(args) => {
            let password = password.ok_or_else(|| anyhow!("no password given"))?;
            match admins::put_admin(store, &args.name, &password, audit::CLI_ACTOR).await? {
                AdminChange::PasswordChanged => println!(
                    "password of administrator {:?} changed; their console sessions end at their next request",
                    args.name
                ),
                AdminChange::Added => println!(
                    "administrator {:?} added; log in to the web console with this name",
                    args.name
                ),
            }
        }
        AdminCommand::List => {
            let admins = admins::list_admins(store).await?;
            if admins.is_empty() {
                println!("no administrators; add one with `pontoon admin add <name>`");
                return Ok(());
            }
            println!("{:<32} CREATED", "NAME");
            for a in &admins {
                println!("{:<32} {}", a.name, format_time(a.created_at));
            }
        }
        AdminCommand::Delete { name } => {
            admins::delete_admin(store, &name, Remover::Cli, audit::CLI_ACTOR).await?;
            println!(
                "administrator {name:?} deleted; their console sessions end at their next request"
            );
            if store.count_admins().await? == 0 {
                eprintln!(
                    "note: no administrator is left; nobody can log in to the console until you run `pontoon admin add <name>`"
                );
            }
        }
        AdminCommand::Token(TokenCommand::Create { name }) => {
            let token = admins::create_token(store, &name, audit::CLI_ACTOR).await?;
            // The token alone on stdout, so `TOKEN=$(pontoon admin token create ci)` works.
            println!("{token}");
            eprintln!(
                "API token {name:?} created. It is shown only this once: store it now. Send it as `Authorization: Bearer <token>`; revoke it with `pontoon admin token revoke {name}`."
            );
        }
        AdminCommand::Token(TokenCommand::List) => {
            let tokens = admins::list_tokens(store).await?;
            if tokens.is_empty() {
                println!("no API tokens; create one with `pontoon admin token create <name>`");
                return Ok(());
            }
            println!("{:<32} {:<20} LAST USED", "NAME", "CREATED");
            for t in &tokens {
                println!(
                    "{:<32} {:<20} {}",
                    t.name,
                    format_time(t.created_at),
                    t.last_used_at
                        .map_or_else(|| "never".to_owned(), format_time)
                );
            }
        }
        AdminCommand::Token(TokenCommand::Revoke { name }) => {
            admins::revoke_token(store, &name, audit::CLI_ACTOR).await?;
            println!("API token {name:?} revoked");
        }
    }
    Ok(())
}

/// The new password: from standard input's first line with `--password-stdin`, otherwise
/// asked twice on the terminal.
fn read_password(args: &AddArgs) -> anyhow::Result<String> {
    let password = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        prompt_password(&args.name)?
    } else {
        bail!(
            "standard input is not a terminal: pass --password-stdin and write the password on its first line"
        );
    };
    check_new_password(&password)?;
    Ok(password)
}

/// How many times the terminal prompt asks before giving up.
const PROMPT_ATTEMPTS: usize = 3;

/// Asks on the terminal, twice for each attempt, saying the rule first and asking again
/// (up to [`PROMPT_ATTEMPTS`] times) when a password breaks it or the two differ.
fn prompt_password(name: &str) -> anyhow::Result<String> {
    eprintln!(
        "Choose a password for {name}: at least {MIN_PASSWORD_CHARS} characters, at most {} bytes.",
        pontoon_store::MAX_PASSWORD_BYTES
    );
    let read = |prompt: &str| {
        rpassword::prompt_password(prompt).context("cannot read the password from the terminal")
    };
    for attempt in 1..=PROMPT_ATTEMPTS {
        let first = read(&format!("Password for {name}: "))?;
        let problem = match check_new_password(&first) {
            Err(e) => e.to_string(),
            Ok(()) if read("Same password again: ")? == first => return Ok(first),
            Ok(()) => "the two passwords differ".to_owned(),
        };
        if attempt < PROMPT_ATTEMPTS {
            eprintln!("{problem}; try again.");
        } else {
            bail!("{problem}; nothing changed");
        }
    }
    bail!("no password given; nothing changed")
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS` UTC.
pub fn format_time(unix: i64) -> String {
    pontoon_core::time::Utc::from_unix(unix).readable()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    #[test]
    fn times() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00");
        assert_eq!(format_time(951_782_400), "2000-02-29 00:00:00");
        assert_eq!(format_time(1_700_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_time(-1), "1969-12-31 23:59:59");
    }

    #[test]
    fn command_line() {
        let cli =
            Cli::try_parse_from(["pontoon", "admin", "add", "root", "--password-stdin"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Admin(AdminCommand::Add(AddArgs { ref name, password_stdin: true })) if name == "root"
        ));
        let cli = Cli::try_parse_from(["pontoon", "admin", "token", "create", "ci"]).unwrap();
        assert!(matches!(
            cli.command,
            Command::Admin(AdminCommand::Token(TokenCommand::Create { ref name })) if name == "ci"
        ));
        for args in [
            &["pontoon", "admin", "list"][..],
            &["pontoon", "admin", "delete", "root"],
            &["pontoon", "admin", "token", "list"],
            &["pontoon", "admin", "token", "revoke", "ci"],
        ] {
            assert!(Cli::try_parse_from(args).is_ok(), "{args:?}");
        }
        assert!(Cli::try_parse_from(["pontoon", "admin", "add"]).is_err());
    }

    #[tokio::test]
    async fn commands_on_a_store() {
        let store = Store::open(
            "sqlite::memory:",
            pontoon_store::StoreKey::from_bytes([7; 32]),
        )
        .await
        .unwrap();
        let add = |name: &str| {
            AdminCommand::Add(AddArgs {
                name: name.into(),
                password_stdin: true,
            })
        };
        run_on(&store, add("root"), Some("password1".into()))
            .await
            .unwrap();
        assert!(store.verify_admin("root", "password1").await.unwrap());
        let revision = store.admin_updated_at("root").await.unwrap().unwrap();
        run_on(&store, add("root"), Some("password2".into()))
            .await
            .unwrap();
        assert!(store.verify_admin("root", "password2").await.unwrap());
        // A new revision: the console ends the sessions opened with the old password.
        assert!(store.admin_updated_at("root").await.unwrap().unwrap() > revision);
        assert!(
            run_on(&store, add("bad name"), Some("password1".into()))
                .await
                .is_err()
        );
        run_on(&store, AdminCommand::List, None).await.unwrap();
        run_on(
            &store,
            AdminCommand::Token(TokenCommand::Create { name: "ci".into() }),
            None,
        )
        .await
        .unwrap();
        let again = run_on(
            &store,
            AdminCommand::Token(TokenCommand::Create { name: "ci".into() }),
            None,
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(again.contains("already exists"), "{again}");
        run_on(&store, AdminCommand::Token(TokenCommand::List), None)
            .await
            .unwrap();
        run_on(
            &store,
            AdminCommand::Token(TokenCommand::Revoke { name: "ci".into() }),
            None,
        )
        .await
        .unwrap();
        assert!(
            run_on(
                &store,
                AdminCommand::Token(TokenCommand::Revoke { name: "ci".into() }),
                None,
            )
            .await
            .is_err()
        );
        run_on(
            &store,
            AdminCommand::Delete {
                name: "root".into(),
            },
            None,
        )
        .await
        .unwrap();
        assert_eq!(store.count_admins().await.unwrap(), 0);
        assert_eq!(store.admin_updated_at("root").await.unwrap(), None);
        assert!(
            run_on(
                &store,
                AdminCommand::Delete {
                    name: "root".into(),
                },
                None,
            )
            .await
            .is_err()
        );
        store.close().await;
    }
}
