//! The configuration's checks, on small files.

use std::path::Path;
use std::time::Duration;

use super::load::EMBEDDED_IRC_DOMAIN;
use super::*;

fn check(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_with(Path::new("t.toml"), text, &["test"])
}

#[test]
fn example_is_valid_and_empty_is_default() {
    let c = Config::from_toml_with(Path::new("t.toml"), EXAMPLE, &["irc"]).unwrap();
    assert_eq!(c.component.port, 5347);
    // What `init` writes is the embedded defaults spelled out.
    let d = Config::embedded(".".into());
    assert_eq!(c.general.mode, d.general.mode);
    assert_eq!(c.general.data_dir, d.general.data_dir);
    assert_eq!(c.server.listen, d.server.listen);
    assert_eq!(c.admin.listen, d.admin.listen);
    assert_eq!(
        c.transports.keys().collect::<Vec<_>>(),
        d.transports.keys().collect::<Vec<_>>()
    );
    let (e, i) = (&c.transports["irc"], &d.transports["irc"]);
    assert_eq!(
        (&e.domain, &e.name, e.enabled, e.public_registration),
        (&i.domain, &i.name, i.enabled, i.public_registration)
    );
    assert_eq!(e.policy_seed(), i.policy_seed());
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    assert!(check("").is_ok());
}

#[test]
fn errors_name_key_and_line() {
    let text = "[general]\nmode = \"component\"\n\n[transports.test]\ndomain = \"not a domain@\"\nsecret = \"\"\n";
    let err = check(text).unwrap_err().to_string();
    assert!(err.contains("t.toml:5: transports.test.domain"), "{err}");
    assert!(err.contains("t.toml:6: transports.test.secret"), "{err}");
    let err = check("[general]\nmood = 1\n").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("mood"), "{err}");
    let err = check("[transports.nosuch]\ndomain = \"a.b\"\nsecret = \"s\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.toml:1: transports.nosuch"), "{err}");
}

#[test]
fn load_is_from_toml_on_the_file() {
    // The text-to-configuration step `load` uses (and the fuzz target `config_load`), with
    // the transports of this build: relative paths resolve against the file's directory,
    // and errors name the path given.
    let text = "[transports.irc]\ndomain = \"irc.localhost\"\n";
    let c = Config::from_toml(Path::new("/etc/pontoon/pontoon.toml"), text).unwrap();
    assert_eq!(c.base_dir, Path::new("/etc/pontoon"));
    assert_eq!(c.data_dir(), Path::new("/etc/pontoon/data"));
    assert_eq!(c.transports["irc"].domain, "irc.localhost");
    let c = Config::from_toml(Path::new("pontoon.toml"), "").unwrap();
    assert_eq!(c.base_dir, Path::new("."));
    let err = Config::from_toml(
        Path::new("/etc/pontoon/pontoon.toml"),
        "[transports.nosuch]\ndomain = \"a.b\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("/etc/pontoon/pontoon.toml:1: transports.nosuch"),
        "{err}"
    );
    let err = Config::from_toml(Path::new("p.toml"), "[general]\nmood = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("p.toml: ") && err.contains("mood"), "{err}");
    // The file read gives the same as its text.
    let dir = std::env::temp_dir().join(format!("pontoon-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("pontoon.toml");
    std::fs::write(&path, text).unwrap();
    let loaded = Config::load(&path, false);
    std::fs::remove_dir_all(&dir).unwrap();
    let loaded = loaded.unwrap();
    assert_eq!(loaded.base_dir, dir);
    assert_eq!(loaded.transports["irc"].domain, "irc.localhost");
}

#[test]
fn server_mode() {
    // Defaults: loopback, generated certificate, unchecked logins only on loopback.
    let c = check("[general]\nmode = \"server\"\n").unwrap();
    assert_eq!(c.server.listen_addr().to_string(), DEFAULT_SERVER_LISTEN);
    assert!(c.server.allow_unauthenticated());
    assert!(!c.server.allow_plaintext_on_loopback);
    assert!(c.server.direct_tls_addr().is_none());
    assert!(matches!(
        c.tls_source(),
        pontoon_xmpp::tls::TlsSource::Generated {
            include_localhost: true,
            ..
        }
    ));
    let c = check("[general]\nmode = \"server\"\n[server]\nlisten = \"0.0.0.0:5222\"\npkcs12 = \"c.p12\"\ncert_password = \"pw\"\n").unwrap();
    assert!(!c.server.allow_unauthenticated());
    assert!(matches!(
        c.tls_source(),
        pontoon_xmpp::tls::TlsSource::Pkcs12 { .. }
    ));
    assert!(!format!("{:?}", c.server).contains("\"pw\""));
    // The example's [server] is the defaults.
    let e = Config::from_toml_with(Path::new("t.toml"), EXAMPLE, &["irc"]).unwrap();
    assert_eq!(
        e.server.listen,
        c.server.listen.replace("0.0.0.0", "127.0.0.1")
    );
    // Errors name key and line.
    let text = "[general]\nmode = \"server\"\n[server]\nlisten = \"nope\"\ncert = \"a.pem\"\ncert_password = \"x\"\n";
    let err = check(text).unwrap_err().to_string();
    assert!(err.contains("t.toml:4: server.listen"), "{err}");
    assert!(
        err.contains("t.toml:5: server.key") || err.contains("server.key"),
        "{err}"
    );
    assert!(err.contains("t.toml:6: server.cert_password"), "{err}");
    let err = check("[general]\nmode = \"peer\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("t.toml:2: general.mode"), "{err}");
    // No secret needed in server mode, still in component mode.
    let mut c: Config = toml::from_str("[transports.irc]\ndomain = \"irc.localhost\"\n").unwrap();
    c.general.mode = "component".into();
    let err = c
        .validate(Path::new("t.toml"), "", &["irc"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("transports.irc.secret"), "{err}");
    c.general.mode = "server".into();
    c.validate(Path::new("t.toml"), "", &["irc"]).unwrap();
}

#[test]
fn embedded_defaults_are_server_mode_on_loopback() {
    // No file: server mode, c2s and console on loopback, a generated certificate,
    // data under data/, one disabled IRC transport not fixed to a network.
    let c = Config::load(Path::new("/nonexistent/dir/pontoon.toml"), true).unwrap();
    assert_eq!(c.general.mode, "server");
    assert_eq!(c.server.listen_addr().to_string(), DEFAULT_SERVER_LISTEN);
    assert_eq!(c.admin.listen, DEFAULT_ADMIN_LISTEN);
    assert!(c.admin.enabled);
    assert!(!c.server.allow_plaintext_on_loopback);
    assert!(matches!(
        c.tls_source(),
        pontoon_xmpp::tls::TlsSource::Generated { .. }
    ));
    assert_eq!(c.data_dir(), Path::new("/nonexistent/dir/data"));
    let irc = &c.transports["irc"];
    assert_eq!(irc.domain, EMBEDDED_IRC_DOMAIN);
    assert!(!irc.enabled);
    assert!(irc.options.is_empty());
    let mut text = String::new();
    for (name, t) in &c.transports {
        text.push_str(&format!("[transports.{name}]\ndomain = {:?}\n", t.domain));
    }
    c.validate(Path::new("t.toml"), &text, &["irc"]).unwrap();
    assert!(c.warnings().is_empty(), "{:?}", c.warnings());
    // A file, even an empty one, has no built-in transport; its mode defaults to server.
    let e = check("").unwrap();
    assert_eq!(e.general.mode, "server");
    assert!(e.transports.is_empty());
    // Component configurations say so.
    assert_eq!(
        check("[general]\nmode = \"component\"\n")
            .unwrap()
            .general
            .mode,
        "component"
    );
    // Not found is only allowed where asked.
    assert!(Config::load(Path::new("/nonexistent/dir/pontoon.toml"), false).is_err());
}

#[test]
fn admin_defaults() {
    let c = check("").unwrap();
    assert!(c.admin.enabled);
    assert_eq!(c.admin.listen_addr().to_string(), "127.0.0.1:8780");
    assert!(c.admin.is_loopback());
    assert!(
        !c.admin.secure_cookies(),
        "plain HTTP on loopback by default"
    );
    assert_eq!(c.admin.session_idle(), Duration::from_secs(1800));
    assert_eq!(c.admin.session_max(), Duration::from_secs(43200));
    assert_eq!(c.admin.login_attempts_per_minute, 5);
    assert!(c.admin.admin_jids().is_empty());
    assert!(admin_warnings(&c).is_empty());
    // The example spells out the same defaults.
    let e = Config::from_toml_with(Path::new("t.toml"), EXAMPLE, &["irc"]).unwrap();
    assert_eq!(e.admin.listen, c.admin.listen);
    assert_eq!(e.admin.enabled, c.admin.enabled);
    assert_eq!(e.admin.secure_cookies(), c.admin.secure_cookies());
    assert_eq!(e.admin.session_idle_timeout, c.admin.session_idle_timeout);
    assert_eq!(e.admin.session_max_age, c.admin.session_max_age);
    assert_eq!(
        e.admin.login_attempts_per_minute,
        c.admin.login_attempts_per_minute
    );
}

#[test]
fn admin_values() {
    let c = check(
        "[admin]\nenabled = false\nlisten = \"[::1]:9000\"\njids = [\"Boss@Example.org\", \"ops@example.net\"]\nsession_idle_timeout = 600\nsession_max_age = 600\nlogin_attempts_per_minute = 10\n",
    )
    .unwrap();
    assert!(!c.admin.enabled);
    assert_eq!(c.admin.listen_addr().port(), 9000);
    assert!(c.admin.is_loopback());
    let jids: Vec<String> = c.admin.admin_jids().iter().map(|j| j.to_string()).collect();
    assert_eq!(jids, ["boss@example.org", "ops@example.net"]);

    // Public address: secure cookies by default and a warning.
    let c = check("[admin]\nlisten = \"0.0.0.0:8780\"\n").unwrap();
    assert!(c.admin.secure_cookies());
    let w = c.warnings().join("\n");
    assert!(w.contains("0.0.0.0:8780") && w.contains("TLS"), "{w}");
    let c = check("[admin]\nlisten = \"192.0.2.1:80\"\nsecure_cookies = false\n").unwrap();
    assert!(!c.admin.secure_cookies());
    assert!(c.warnings().join("").contains("secure_cookies"));
    // Disabled: nothing to warn about.
    let c = check("[admin]\nenabled = false\nlisten = \"0.0.0.0:8780\"\n").unwrap();
    assert!(admin_warnings(&c).is_empty());
    let c = check("[admin]\nsecure_cookies = true\n").unwrap();
    assert!(c.admin.secure_cookies());
}

#[test]
fn admin_errors_name_key_and_line() {
    let text = "[admin]\nlisten = \"localhost\"\njids = [\"example.org\", \"a@b/res\"]\nsession_idle_timeout = 0\nsession_max_age = 100000000\nlogin_attempts_per_minute = 0\n";
    let err = check(text).unwrap_err().to_string();
    assert!(err.contains("t.toml:2: admin.listen"), "{err}");
    assert!(
        err.contains("t.toml:3: admin.jids: \"example.org\" is a domain"),
        "{err}"
    );
    assert!(err.contains("t.toml:3: admin.jids: \"a@b/res\""), "{err}");
    assert!(
        err.contains("t.toml:4: admin.session_idle_timeout"),
        "{err}"
    );
    assert!(err.contains("t.toml:5: admin.session_max_age"), "{err}");
    assert!(
        err.contains("t.toml:6: admin.login_attempts_per_minute"),
        "{err}"
    );
    let err = check("[admin]\nsession_idle_timeout = 7200\nsession_max_age = 3600\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:3: admin.session_max_age: must not be shorter"),
        "{err}"
    );
    // Port 0: any free port (the log says which).
    assert!(check("[admin]\nlisten = \"127.0.0.1:0\"\n").is_ok());
    let err = check("[admin]\nlisen = \"x\"\n").unwrap_err().to_string();
    assert!(err.contains("line 2") && err.contains("lisen"), "{err}");
}

#[test]
fn log_level_is_parsed_without_hang_or_panic() {
    // Faults of tracing-subscriber's filter parser, which `check-config` and the start of
    // `run` both went through: the first two found by the fuzz target `config_load`.
    let err_of = |log_level: &str| {
        let text = format!("[general]\n\nlog_level = {log_level:?}\n");
        check(&text).unwrap_err().to_string()
    };
    // A span field value read as a regular expression (`.*a` then dots): building its
    // automaton took exponential time and memory (14 dots: 18 s, 16: over a minute).
    let start = std::time::Instant::now();
    let err = err_of(&format!(
        "info,pontoon_core[session{{user=.*a{}}}]=debug",
        ".".repeat(200)
    ));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(
        err.contains("t.toml:3: general.log_level: invalid filter: ")
            && err.contains("field values"),
        "{err}"
    );
    // Read literally instead, the same field value twice failed an assertion (debug builds).
    let err = err_of("[{f=/a.*b/}]=debug,[{f=/a.*b/}]=info");
    assert!(err.contains("field values"), "{err}");
    // However the braces are placed.
    for value in ["a{}[s{f=v}]=debug", "[{f}]=debug,[s{f=1}]", "x[s{f=v"] {
        assert!(err_of(value).contains("field values"), "{value}");
    }
    // A directive starting with a space then a non-ASCII character: a slice off a char
    // boundary, a panic.
    let c = check("[general]\nlog_level = \"info, été=debug ,  é=warn\"\n").unwrap();
    let filter = c.general.log_filter().unwrap().to_string();
    assert!(
        filter.contains("été=debug") && filter.contains("é=warn"),
        "{filter}"
    );
    // Span and field names still work; a wrong filter is still refused.
    let c = check("[general]\nlog_level = \"info,pontoon_core[session{user}]=debug, sqlx=warn\"\n")
        .unwrap();
    let filter = c.general.log_filter().unwrap().to_string();
    assert!(
        filter.contains("pontoon_core[session{user}]=debug"),
        "{filter}"
    );
    assert!(filter.contains("sqlx=warn"), "{filter}");
    let err = err_of("info,pontoon=loud");
    assert!(
        err.contains("t.toml:3: general.log_level: invalid filter"),
        "{err}"
    );
}

/// The warnings other than the one about a file without transports.
fn admin_warnings(c: &Config) -> Vec<String> {
    c.warnings()
        .into_iter()
        .filter(|w| !w.starts_with("no transport"))
        .collect()
}

#[test]
fn a_file_without_transports_is_warned_about() {
    let w = check("").unwrap().warnings().join("\n");
    assert!(w.contains("no transport is configured"), "{w}");
    let embedded = Config::embedded(".".into());
    assert!(!embedded.warnings().join("").contains("no transport"));
}

#[test]
fn log_format_is_text_or_json() {
    assert!(!check("").unwrap().general.json_logs());
    assert!(
        check("[general]\nlog_format = \"json\"\n")
            .unwrap()
            .general
            .json_logs()
    );
    let err = check("[general]\nlog_format = \"xml\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("t.toml:2: general.log_format") && err.contains("\"text\" or \"json\""),
        "{err}"
    );
}

#[test]
fn a_backend_is_a_kind_with_a_command() {
    let ok = "[transports.echo]\nkind = \"backend\"\ndomain = \"echo.example.org\"\nsecret = \"s\"\ncommand = [\"bin/echo\", \"--fast\"]\nworking_dir = \"run\"\nusers_per_process = 50\n[transports.echo.env]\nLANG = \"C.UTF-8\"\n";
    let c = check(ok).unwrap();
    let t = &c.transports["echo"];
    let b = t.backend("echo", Path::new("/etc/pontoon")).unwrap();
    // Relative paths are the configuration's, like its other files.
    assert_eq!(b.command, ["/etc/pontoon/bin/echo", "--fast"]);
    assert_eq!(
        b.working_dir.as_deref(),
        Some(Path::new("/etc/pontoon/run"))
    );
    assert_eq!(b.users_per_process, 50);
    assert_eq!(b.env["LANG"], "C.UTF-8");
    assert!(
        c.transports
            .get("echo")
            .is_some_and(TransportConfig::is_backend)
    );

    let no_command =
        "[transports.echo]\nkind = \"backend\"\ndomain = \"echo.example.org\"\nsecret = \"s\"\n";
    let err = check(no_command).unwrap_err().to_string();
    assert!(err.contains("transports.echo.command"), "{err}");
    let bad_kind =
        "[transports.echo]\nkind = \"plugin\"\ndomain = \"echo.example.org\"\nsecret = \"s\"\n";
    let err = check(bad_kind).unwrap_err().to_string();
    assert!(err.contains("transports.echo.kind"), "{err}");
    let built_in =
        "[transports.test]\ndomain = \"t.example.org\"\nsecret = \"s\"\ncommand = [\"x\"]\n";
    let err = check(built_in).unwrap_err().to_string();
    assert!(err.contains("for kind = \"backend\""), "{err}");
}

#[test]
fn history_keys_seed_the_policy_within_limits() {
    let check = |text: &str| Config::from_toml_with(Path::new("t.toml"), text, &["irc"]);
    // Unset: the store's defaults (also for a table built in code, as the embedded one is).
    let c = check("[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\n").unwrap();
    let p = c.transports["irc"].policy_seed();
    assert_eq!(
        (p.history_days, p.history_per_room),
        (
            pontoon_store::DEFAULT_HISTORY_DAYS,
            pontoon_store::DEFAULT_HISTORY_PER_ROOM
        )
    );
    let p = TransportConfig::default().policy_seed();
    assert_eq!(p.history_days, pontoon_store::DEFAULT_HISTORY_DAYS);
    // Set: seeded as written; 0 is allowed for both.
    let c = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nhistory_days = 0\nhistory_per_room = 250\n",
    )
    .unwrap();
    let p = c.transports["irc"].policy_seed();
    assert_eq!((p.history_days, p.history_per_room), (0, 250));
    // Beyond the limits: refused, with key and line.
    let err = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nhistory_days = 36501\nhistory_per_room = 10000001\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("t.toml:4: transports.irc.history_days: 36501 is more than 36500"),
        "{err}"
    );
    assert!(
        err.contains("t.toml:5: transports.irc.history_per_room: 10000001 is more than 10000000"),
        "{err}"
    );
    // Not a number, or negative: a type error naming the key.
    let err = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nhistory_days = \"30\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("history_days"), "{err}");
    assert!(
        check(
            "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nhistory_per_room = -1\n"
        )
        .is_err()
    );
}

#[test]
fn always_online_keys_seed_the_policy_within_limits() {
    let check = |text: &str| Config::from_toml_with(Path::new("t.toml"), text, &["irc"]);
    // Unset: the store's defaults (also for a table built in code, as the embedded one is).
    let c = check("[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\n").unwrap();
    let p = c.transports["irc"].policy_seed();
    assert_eq!(
        (p.always_online_default, p.always_online_limit),
        (false, pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT)
    );
    let p = TransportConfig::default().policy_seed();
    assert_eq!(
        (p.always_online_default, p.always_online_limit),
        (false, pontoon_store::DEFAULT_ALWAYS_ONLINE_LIMIT)
    );
    // Set: seeded as written; a limit of 0 is allowed.
    let c = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nalways_online_default = true\nalways_online_limit = 0\n",
    )
    .unwrap();
    let p = c.transports["irc"].policy_seed();
    assert_eq!((p.always_online_default, p.always_online_limit), (true, 0));
    // Beyond the limit: refused, with key and line.
    let err = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nalways_online_limit = 1000001\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("t.toml:4: transports.irc.always_online_limit: 1000001 is more than 1000000"),
        "{err}"
    );
    // Not a boolean, not a number, or negative: a type error naming the key.
    let err = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nalways_online_default = \"yes\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("always_online_default"), "{err}");
    let err = check(
        "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nalways_online_limit = \"100\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("always_online_limit"), "{err}");
    assert!(
        check(
            "[transports.irc]\ndomain = \"t.example.org\"\nsecret = \"s\"\nalways_online_limit = -1\n"
        )
        .is_err()
    );
}
