//! The console's view of the log and the run-time debug switch per transport.
//!
//! [`LogBuffer`] is a `tracing_subscriber` layer keeping the last events in memory for the
//! Logs page and `GET /api/v1/logs`. [`LogFilter`] is the process's log filter: a base
//! `EnvFilter` (the configured level) plus "debug for everything inside a span of these
//! transports". The binary installs both:
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//! let filter = pontoon_admin::logs::LogFilter::new("info").expect("valid directive");
//! let buffer = pontoon_admin::logs::LogBuffer::default();
//! tracing_subscriber::registry()
//!     .with(filter.clone())
//!     .with(tracing_subscriber::fmt::layer())
//!     .with(buffer.clone())
//!     .init();
//! filter.apply(&["irc".to_owned()]); // irc's debug events now appear
//! ```
//!
//! Why not `EnvFilter` span directives (`[{transport=irc}]=debug`) swapped in through a
//! `reload` handle: an `EnvFilter` learns which spans match when they are created, so a
//! reloaded filter never matches spans that already exist, and a service's span lives as
//! long as the process (tested: events inside a span created before the reload stay
//! hidden). [`LogFilter`] instead remembers each `service`/`session` span's `transport`
//! field in the span's extensions and checks the current scope when asked about a debug
//! event, so switching applies to old and new spans alike. While no transport has debug
//! on, nothing changes for the hot path: the callsite cache answers as the base filter does.

use std::collections::{BTreeSet, VecDeque};
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber, span};
use tracing_core::Interest;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// How many events [`LogBuffer::default`] keeps.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Longest message kept per event, in bytes (longer ones are cut at a char boundary).
const MAX_MESSAGE: usize = 4096;

/// Names of the spans whose `transport` field tags the events inside them.
const TAGGED_SPANS: [&str; 2] = ["service", "session"];

/// Fields never copied into the buffer.
const SECRET_FIELDS: [&str; 5] = ["password", "secret", "token", "passwd", "key"];

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Severity.
    pub level: Level,
    /// The event's target (module path unless set).
    pub target: String,
    /// The transport the event belongs to: its own `transport` field, or that of the
    /// nearest enclosing `service`/`session` span.
    pub transport: Option<String>,
    /// The message followed by the other fields as ` key=value`.
    pub message: String,
}

/// Which events [`LogBuffer::recent`] returns.
#[derive(Clone, Debug, Default)]
pub struct LogQuery {
    /// Only events of this transport.
    pub transport: Option<String>,
    /// Only events at least this severe (`WARN` gives warnings and errors).
    pub min_level: Option<Level>,
    /// At most this many (0 = all kept).
    pub limit: usize,
}

struct Ring {
    capacity: usize,
    entries: VecDeque<LogEntry>,
}

/// The last events, in memory. Cheap to clone (all clones share one buffer); install it as
/// a layer. The lock is held only to push or copy entries, never while formatting.
#[derive(Clone)]
pub struct LogBuffer {
    ring: Arc<Mutex<Ring>>,
}

impl Default for LogBuffer {
    fn default() -> Self {
        LogBuffer::new(DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for LogBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogBuffer")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl LogBuffer {
    /// A buffer keeping the last `capacity` events (at least one).
    pub fn new(capacity: usize) -> LogBuffer {
        let capacity = capacity.max(1);
        LogBuffer {
            ring: Arc::new(Mutex::new(Ring {
                capacity,
                entries: VecDeque::with_capacity(capacity.min(1024)),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic elsewhere while holding the lock leaves a consistent ring: keep going.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event, dropping the oldest when full.
    pub fn push(&self, entry: LogEntry) {
        let mut ring = self.lock();
        if ring.entries.len() >= ring.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(entry);
    }

    /// How many events are kept now.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no event is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Matching events, newest first.
    pub fn recent(&self, q: &LogQuery) -> Vec<LogEntry> {
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        let ring = self.lock();
        ring.entries
            .iter()
            .rev()
            .filter(|e| {
                q.transport
                    .as_deref()
                    .is_none_or(|t| e.transport.as_deref() == Some(t))
            })
            // Level order in tracing: ERROR < WARN < INFO < DEBUG < TRACE.
            .filter(|e| q.min_level.is_none_or(|min| e.level <= min))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// The `transport` of a `service`/`session` span, kept in the span's extensions.
struct SpanTransport(String);

/// Records the `transport` field of a tagged span (both layers call this; idempotent).
fn tag_span<S>(attrs: &span::Attributes<'_>, id: &span::Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !TAGGED_SPANS.contains(&attrs.metadata().name()) {
        return;
    }
    let mut v = TransportField(None);
    attrs.record(&mut v);
    if let (Some(t), Some(span)) = (v.0, ctx.span(id)) {
        span.extensions_mut().replace(SpanTransport(t));
    }
}

fn retag_span<S>(id: &span::Id, values: &span::Record<'_>, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = ctx.span(id) else { return };
    if !TAGGED_SPANS.contains(&span.name()) {
        return;
    }
    let mut v = TransportField(None);
    values.record(&mut v);
    if let Some(t) = v.0 {
        span.extensions_mut().replace(SpanTransport(t));
    }
}

/// The transport of the nearest enclosing tagged span of the current span.
fn scope_transport<S>(span: Option<tracing_subscriber::registry::SpanRef<'_, S>>) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?
        .scope()
        .find_map(|s| s.extensions().get::<SpanTransport>().map(|t| t.0.clone()))
}

/// Picks the `transport` field out of a span's or event's fields.
struct TransportField(Option<String>);

impl Visit for TransportField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "transport" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "transport" {
            let text = format!("{value:?}");
            // `?transport` on a String prints quotes; `%transport` does not.
            let text = text
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .map(str::to_owned)
                .unwrap_or(text);
            self.0 = Some(text);
        }
    }
}

/// Formats an event's message and fields.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
    transport: Option<String>,
}

impl EventText {
    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        let name = field.name();
        if SECRET_FIELDS.contains(&name) {
            let _ = write!(self.fields, " {name}=<redacted>");
        } else if name == "message" {
            let _ = self.message.write_fmt(value);
        } else {
            let _ = write!(self.fields, " {name}={value}");
        }
    }
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "transport" {
            self.transport = Some(value.to_owned());
            return;
        }
        self.field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "transport" {
            let mut t = TransportField(None);
            t.record_debug(field, value);
            self.transport = t.0;
            return;
        }
        self.field(field, format_args!("{value:?}"));
    }
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

pub(crate) fn unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl<S> Layer<S> for LogBuffer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        tag_span(attrs, id, &ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        retag_span(id, values, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut text = EventText::default();
        event.record(&mut text);
        let transport = text
            .transport
            .take()
            .or_else(|| scope_transport(ctx.event_span(event)));
        let mut message = text.message;
        message.push_str(&text.fields);
        let meta = event.metadata();
        self.push(LogEntry {
            time_ms: unix_ms(),
            level: *meta.level(),
            target: meta.target().to_owned(),
            transport,
            message: truncate(message, MAX_MESSAGE),
        });
    }
}

struct FilterInner {
    base: EnvFilter,
    base_text: String,
    debug: RwLock<BTreeSet<String>>,
    /// Whether `debug` is non-empty (read on every event while it is).
    active: AtomicBool,
}

/// The process's log filter: the configured base filter plus debug events of the
/// transports switched to debug (see the module docs). Cheap to clone; install one clone
/// as a layer (as one would an `EnvFilter`) and give another to the console.
#[derive(Clone)]
pub struct LogFilter {
    inner: Arc<FilterInner>,
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogFilter")
            .field("base", &self.inner.base_text)
            .field("debug", &self.debug_transports())
            .finish()
    }
}

impl LogFilter {
    /// A filter from an `EnvFilter` directive string such as `info` or
    /// `info,pontoon_irc=debug`; `Err` tells what is wrong with it.
    pub fn new(base: &str) -> Result<LogFilter, String> {
        let filter = EnvFilter::try_new(base).map_err(|e| format!("log level {base:?}: {e}"))?;
        Ok(LogFilter::from_env_filter(filter))
    }

    /// A filter around an already built `EnvFilter` (e.g. one read from `RUST_LOG`).
    pub fn from_env_filter(base: EnvFilter) -> LogFilter {
        LogFilter {
            inner: Arc::new(FilterInner {
                base_text: base.to_string(),
                base,
                debug: RwLock::new(BTreeSet::new()),
                active: AtomicBool::new(false),
            }),
        }
    }

    /// The base directives, as text.
    pub fn base(&self) -> &str {
        &self.inner.base_text
    }

    /// Turns debug logging on for exactly these transports (off for all others). Takes
    /// effect at once for spans old and new; a no-op when nothing changes.
    pub fn apply(&self, debug_transports: &[String]) {
        let wanted: BTreeSet<String> = debug_transports.iter().cloned().collect();
        {
            let mut set = self.inner.debug.write().unwrap_or_else(|e| e.into_inner());
            if *set == wanted {
                return;
            }
            *set = wanted;
            self.inner.active.store(!set.is_empty(), Ordering::Release);
        }
        // Callsites cached as "never" (debug! under an info filter) must be asked again,
        // and the global maximum level recomputed. Not under our lock: this calls back
        // into register_callsite.
        tracing_core::callsite::rebuild_interest_cache();
        tracing::info!(transports = ?debug_transports, "debug logging per transport changed");
    }

    /// The transports with debug logging on, sorted.
    pub fn debug_transports(&self) -> Vec<String> {
        self.inner
            .debug
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn active(&self) -> bool {
        self.inner.active.load(Ordering::Acquire)
    }

    fn debug_in_scope<S>(&self, ctx: &Context<'_, S>) -> bool
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let Some(transport) = scope_transport(ctx.lookup_current()) else {
            return false;
        };
        self.inner
            .debug
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&transport)
    }
}

fn is_tagged_span(meta: &Metadata<'_>) -> bool {
    meta.is_span() && TAGGED_SPANS.contains(&meta.name())
}

impl<S> Layer<S> for LogFilter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        let base = Layer::<S>::register_callsite(&self.inner.base, meta);
        if base.is_always() || is_tagged_span(meta) {
            // Tagged spans always exist, so their transport is known whatever the level.
            Interest::always()
        } else if self.active() && *meta.level() <= Level::DEBUG {
            Interest::sometimes()
        } else {
            base
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        // The hint must let the tagged spans (created at INFO) exist whatever the base
        // level, or with `warn` they would never be created and events could not be tagged
        // nor switched to debug per transport. Events at INFO are still filtered out by
        // `register_callsite` and `enabled`. `None` means "anything": keep it.
        let floor = if self.active() {
            LevelFilter::DEBUG
        } else {
            LevelFilter::INFO
        };
        Layer::<S>::max_level_hint(&self.inner.base).map(|b| b.max(floor))
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if is_tagged_span(meta) || Layer::<S>::enabled(&self.inner.base, meta, ctx.clone()) {
            return true;
        }
        self.active() && *meta.level() <= Level::DEBUG && self.debug_in_scope(&ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        tag_span(attrs, id, &ctx);
        Layer::<S>::on_new_span(&self.inner.base, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        retag_span(id, values, &ctx);
        Layer::<S>::on_record(&self.inner.base, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.inner.base, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.inner.base, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_close(&self.inner.base, id, ctx);
    }
}

/// Every second, reads the transports' policies and applies their `debug_logging` flags
/// to `filter`, so changes made elsewhere (the CLI, another instance sharing the store)
/// take effect too. Runs until `shutdown` is cancelled.
pub fn spawn_debug_watch(
    store: pontoon_store::Store,
    filter: LogFilter,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {}
            }
            match debug_transports(&store).await {
                Ok(list) => {
                    failing = false;
                    filter.apply(&list);
                }
                Err(e) => {
                    // Once per outage, not every second.
                    if !failing {
                        tracing::warn!(error = %e, "cannot read the debug logging settings");
                    }
                    failing = true;
                }
            }
        }
    })
}

/// The transports whose stored policy has debug logging on.
pub(crate) async fn debug_transports(
    store: &pontoon_store::Store,
) -> Result<Vec<String>, pontoon_store::StoreError> {
    Ok(store
        .transport_policies()
        .await?
        .into_iter()
        .filter(|(_, p)| p.debug_logging)
        .map(|(name, _)| name)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use tracing_subscriber::prelude::*;

    fn capture(filter: &LogFilter, buffer: &LogBuffer) -> impl Subscriber + Send + Sync {
        tracing_subscriber::registry()
            .with(filter.clone())
            .with(buffer.clone())
    }

    fn messages(buffer: &LogBuffer) -> Vec<String> {
        let mut v: Vec<String> = buffer
            .recent(&LogQuery::default())
            .into_iter()
            .map(|e| e.message)
            .collect();
        v.reverse();
        v
    }

    #[test]
    fn debug_switch_applies_to_spans_made_before_it() {
        let filter = LogFilter::new("info").unwrap();
        let buffer = LogBuffer::default();
        tracing::subscriber::with_default(capture(&filter, &buffer), || {
            let irc = tracing::info_span!("service", transport = "irc");
            let other = tracing::info_span!("service", transport = "other");
            irc.in_scope(|| tracing::debug!("irc quiet"));
            filter.apply(&["irc".to_owned()]);
            irc.in_scope(|| {
                tracing::debug!("irc loud");
                // Nested spans inherit the transport.
                tracing::info_span!("room").in_scope(|| tracing::debug!("irc nested"));
            });
            other.in_scope(|| tracing::debug!("other quiet"));
            tracing::debug!("outside quiet");
            let session = tracing::debug_span!("session", transport = "irc", user = "a@b");
            session.in_scope(|| tracing::debug!("session loud"));
            tracing::info!("info always");
            filter.apply(&[]);
            irc.in_scope(|| tracing::debug!("irc quiet again"));
        });
        assert_eq!(
            messages(&buffer),
            [
                "debug logging per transport changed transports=[\"irc\"]",
                "irc loud",
                "irc nested",
                "session loud",
                "info always",
                "debug logging per transport changed transports=[]",
            ]
        );
    }

    /// With a base level above INFO, the tagged spans must still be created (the global
    /// maximum level would otherwise stop `info_span!` before any filter is asked), while
    /// INFO events stay filtered out.
    #[test]
    fn tagged_spans_exist_under_a_warn_base() {
        let filter = LogFilter::new("warn").unwrap();
        assert_eq!(
            Layer::<tracing_subscriber::Registry>::max_level_hint(&filter),
            Some(LevelFilter::INFO)
        );
        let buffer = LogBuffer::default();
        tracing::subscriber::with_default(capture(&filter, &buffer), || {
            let irc = tracing::info_span!("service", transport = "irc");
            assert!(!irc.is_disabled(), "the tagged span was not created");
            irc.in_scope(|| {
                tracing::info!("irc info");
                tracing::warn!("irc warn");
                tracing::debug!("irc quiet");
            });
            filter.apply(&["irc".to_owned()]);
            irc.in_scope(|| tracing::debug!("irc loud"));
            tracing::info_span!("service", transport = "other")
                .in_scope(|| tracing::debug!("other quiet"));
            tracing::info!("info filtered");
        });
        let all = buffer.recent(&LogQuery::default());
        let got: Vec<(&str, Option<&str>)> = all
            .iter()
            .rev()
            .map(|e| (e.message.as_str(), e.transport.as_deref()))
            .collect();
        assert_eq!(got, [("irc warn", Some("irc")), ("irc loud", Some("irc"))]);
    }

    /// Why `LogFilter` exists: an `EnvFilter` with a span-field directive, swapped in by a
    /// `reload` handle, does not see spans created before the swap.
    #[test]
    fn reloaded_env_filter_misses_older_spans() {
        use tracing_subscriber::reload;
        let (layer, handle) = reload::Layer::new(EnvFilter::new("info"));
        let buffer = LogBuffer::default();
        let sub = tracing_subscriber::registry()
            .with(layer)
            .with(buffer.clone());
        tracing::subscriber::with_default(sub, || {
            let old = tracing::info_span!("service", transport = "irc");
            handle
                .reload(EnvFilter::new("info,[{transport=irc}]=debug"))
                .unwrap();
            old.in_scope(|| tracing::debug!("old span"));
            let new = tracing::info_span!("service", transport = "irc");
            new.in_scope(|| tracing::debug!("new span"));
            tracing::info_span!("service", transport = "other")
                .in_scope(|| tracing::debug!("other span"));
        });
        assert_eq!(messages(&buffer), ["new span"]);
    }

    #[test]
    fn entries_carry_the_transport_and_fields_and_no_secrets() {
        let filter = LogFilter::new("info").unwrap();
        let buffer = LogBuffer::default();
        tracing::subscriber::with_default(capture(&filter, &buffer), || {
            let who = String::from("irc");
            tracing::info_span!("session", transport = %who).in_scope(|| {
                tracing::warn!(
                    user = "alice@localhost",
                    password = "hunter2",
                    "login failed"
                );
            });
            tracing::info!(transport = "test", "own field");
        });
        let all = buffer.recent(&LogQuery::default());
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].transport.as_deref(), Some("test"));
        assert_eq!(all[1].transport.as_deref(), Some("irc"));
        assert_eq!(all[1].level, Level::WARN);
        assert_eq!(
            all[1].message,
            "login failed user=alice@localhost password=<redacted>"
        );
        let warn = buffer.recent(&LogQuery {
            min_level: Some(Level::WARN),
            ..LogQuery::default()
        });
        assert_eq!(warn.len(), 1);
        let irc = buffer.recent(&LogQuery {
            transport: Some("irc".into()),
            ..LogQuery::default()
        });
        assert_eq!(irc.len(), 1);
    }

    #[test]
    fn buffer_is_bounded() {
        let buffer = LogBuffer::new(3);
        for i in 0..10 {
            buffer.push(LogEntry {
                time_ms: i,
                level: Level::INFO,
                target: "t".into(),
                transport: None,
                message: i.to_string(),
            });
        }
        assert_eq!(buffer.len(), 3);
        let recent = buffer.recent(&LogQuery {
            limit: 2,
            ..LogQuery::default()
        });
        assert_eq!(
            recent
                .iter()
                .map(|e| e.message.as_str())
                .collect::<Vec<_>>(),
            ["9", "8"]
        );
    }

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(10), 5);
        assert_eq!(s, "éé…");
    }
}
