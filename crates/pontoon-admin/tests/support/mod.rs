//! A console over a real SQLite store and a real service with the in-memory test
//! transport, driven through `tower::ServiceExt::oneshot` (no socket).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs
)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use minidom::Element;
use pontoon_admin::logs::{LogBuffer, LogFilter};
use pontoon_admin::{AdminConfig, Gateway};
use pontoon_core::Transport;
use pontoon_core::{Service, ServiceControl};
use pontoon_store::Store;
use pontoon_testkit::TestTransport;
use pontoon_testkit::harness::{TempStore, enabled, service_config, temp_store};
use pontoon_xmpp::component::LinkEvent;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub const ADMIN: &str = "root";
pub const PASSWORD: &str = "correct horse";

pub struct Env {
    pub app: Router,
    pub store: Store,
    pub control: ServiceControl,
    pub to_service: mpsc::Sender<LinkEvent>,
    pub from_service: mpsc::Receiver<pontoon_xmpp::OutStanza>,
    pub logs: LogBuffer,
    pub filter: LogFilter,
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn config() -> AdminConfig {
    AdminConfig {
        login_attempts_per_minute: 3,
        ..AdminConfig::default()
    }
}

/// A gateway with one enabled `test` transport whose link is up and one admin account.
pub async fn env() -> Env {
    env_with(config(), true).await
}

pub async fn env_with(cfg: AdminConfig, with_admin: bool) -> Env {
    let TempStore { store, dir, .. } = temp_store(&enabled()).await;
    if with_admin {
        store.put_admin(ADMIN, PASSWORD).await.unwrap();
    }
    let (out_tx, from_service) = mpsc::channel(256);
    let (to_service, in_rx) = mpsc::channel(64);
    let service = Service::new(
        service_config(Vec::new()),
        Arc::new(TestTransport::default()),
        store.clone(),
        out_tx,
    )
    .await
    .unwrap();
    let control = service.control();
    let shutdown = CancellationToken::new();
    tokio::spawn(service.run(in_rx, shutdown.clone()));
    to_service.send(LinkEvent::Up).await.unwrap();

    let logs = LogBuffer::default();
    let filter = LogFilter::new("info").unwrap();
    let rules = Arc::new(TestTransport::default());
    let gw = Gateway {
        store: store.clone(),
        services: vec![control.clone()],
        loops: vec![],
        clients: None,
        // The test transport's own check: only `rich`, true or false.
        validate_options: Arc::new(|_, options: &BTreeMap<String, String>| {
            TestTransport::from_options(options).map(|_| ())
        }),
        // The option `deny` (set in the store directly: the options check above refuses
        // it) names a legacy id refused, to show the options in force are used.
        option_specs: Arc::new(|_| pontoon_testkit::OPTION_SPECS),
        test_connection: Arc::new(|_, options| match TestTransport::from_options(options) {
            Ok(t) => t.test_connection(),
            Err(e) => Box::pin(async move { Err(e) }),
        }),
        // As if the test transport were a backend with one process (its stderr hostile).
        backend_processes: Arc::new(|_| {
            vec![pontoon_backend::pool::ProcessView {
                state: "running (pid 42)".into(),
                restarts: 2,
                sessions: 1,
                stderr: vec!["<b>starting</b>".into()],
            }]
        }),
        account_from_form: Arc::new(move |_, options, values| {
            if options.get("deny") == values.get("username") && options.contains_key("deny") {
                return Err("denied by the transport's options".to_owned());
            }
            rules.account_from_form(values).map_err(|e| e.to_string())
        }),
        logs: logs.clone(),
        log_filter: filter.clone(),
        mode: "component".into(),
        version: "1.2.3",
    };
    let app = pontoon_admin::router(cfg, gw);
    let env = Env {
        app,
        store,
        control,
        to_service,
        from_service,
        logs,
        filter,
        shutdown,
        _dir: dir,
    };
    for _ in 0..50 {
        if env.control.stats().link_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    env
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn location(&self) -> &str {
        self.header("location").unwrap_or("")
    }

    /// The first hidden csrf field of the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no csrf field in {}", self.body));
        let rest = &self.body[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

pub async fn send(app: &Router, req: Request<Body>) -> Answer {
    let res = app.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 22)
        .await
        .unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

/// `application/x-www-form-urlencoded` body.
pub fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else if b == b' ' {
                "+".to_owned()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// A browser: keeps cookies, never follows redirects.
pub struct Browser {
    pub app: Router,
    pub cookies: HashMap<String, String>,
}

impl Browser {
    pub fn new(env: &Env) -> Browser {
        Browser {
            app: env.app.clone(),
            cookies: HashMap::new(),
        }
    }

    async fn go(&mut self, req: axum::http::request::Builder, body: Body) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let req = if cookie.is_empty() {
            req
        } else {
            req.header(header::COOKIE, cookie)
        };
        let a = send(&self.app, req.body(body).unwrap()).await;
        for c in a.headers.get_all(header::SET_COOKIE) {
            let c = c.to_str().unwrap();
            let (pair, _) = c.split_once(';').unwrap_or((c, ""));
            let (k, v) = pair.split_once('=').unwrap();
            if c.contains("Max-Age=0") {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        a
    }

    pub async fn get(&mut self, path: &str) -> Answer {
        self.go(Request::get(path), Body::empty()).await
    }

    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.go(
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
            Body::from(form(fields)),
        )
        .await
    }

    /// Logs in through the form, as a browser does.
    pub async fn login(&mut self, user: &str, password: &str) -> Answer {
        let page = self.get("/login").await;
        let csrf = page.csrf();
        self.post(
            "/login",
            &[("username", user), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// Posts a form of the page at `page` with its csrf token.
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Answer {
        let csrf = self.get(page).await.csrf();
        let mut all = fields.to_vec();
        all.push(("csrf", &csrf));
        self.post(action, &all).await
    }
}

pub async fn logged_in(env: &Env) -> Browser {
    let mut b = Browser::new(env);
    let a = b.login(ADMIN, PASSWORD).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    b
}

/// An API client with a fresh token.
pub struct Api {
    pub app: Router,
    pub token: String,
}

impl Api {
    pub async fn new(env: &Env) -> Api {
        let n = rand_suffix();
        Api {
            app: env.app.clone(),
            token: env.store.create_api_token(&format!("t{n}")).await.unwrap(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        json: Option<serde_json::Value>,
    ) -> Answer {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/api/v1{path}"))
            .header(header::AUTHORIZATION, format!("Bearer {}", self.token));
        let body = match json {
            Some(j) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Body::from(j.to_string())
            }
            None => Body::empty(),
        };
        send(&self.app, req.body(body).unwrap()).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.call(Method::GET, path, None).await
    }
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Env {
    pub async fn send_xml(&self, xml: &str) {
        self.to_service
            .send(LinkEvent::Stanza(
                xml.parse().unwrap(),
                std::time::Instant::now(),
                None,
            ))
            .await
            .unwrap();
    }

    /// Receives stanzas until one matches, failing after 20 or 5 s.
    pub async fn expect(&mut self, what: &str, pred: impl Fn(&Element) -> bool) -> Element {
        for _ in 0..20 {
            let el = tokio::time::timeout(Duration::from_secs(5), self.from_service.recv())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap()
                .into_element();
            if pred(&el) {
                return el;
            }
        }
        panic!("no stanza matched: {what}");
    }

    /// `user` (registered already) goes online towards the transport.
    pub async fn go_online(&mut self, user: &str) {
        self.send_xml(&format!(
            "<presence xmlns='jabber:client' from='{user}/res' to='test.localhost'/>"
        ))
        .await;
        self.expect("available from the transport", |e| {
            e.name() == "presence"
                && e.attr("from") == Some("test.localhost")
                && e.attr("type").is_none()
        })
        .await;
    }
}
