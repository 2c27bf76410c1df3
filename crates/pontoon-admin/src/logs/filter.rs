//! [`LogFilter`]: the configured base filter plus debug events of the transports
//! switched to debug at run time.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{Level, Metadata, Subscriber, span};
use tracing_core::Interest;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::spans::{TAGGED_SPANS, retag_span, scope_transport, tag_span};

struct FilterInner {
    /// Replaced as a whole when the operator reloads the log level (SIGHUP).
    base: RwLock<Base>,
    debug: RwLock<BTreeSet<String>>,
    /// Whether `debug` is non-empty (read on every event while it is).
    active: AtomicBool,
}

/// The configured filter and its text (an `EnvFilter` does not give its text back
/// exactly as written).
struct Base {
    filter: EnvFilter,
    text: String,
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
            .field("base", &self.base())
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
                base: RwLock::new(Base {
                    text: base.to_string(),
                    filter: base,
                }),
                debug: RwLock::new(BTreeSet::new()),
                active: AtomicBool::new(false),
            }),
        }
    }

    /// The base directives, as text.
    pub fn base(&self) -> String {
        self.read_base().text.clone()
    }

    /// Replaces the base filter (the operator changed the log level and reloaded): takes
    /// effect at once for every callsite. Spans opened under the old filter keep working;
    /// only their span-level directives (rare: `RUST_LOG` with span fields) are forgotten.
    pub fn set_base(&self, filter: EnvFilter) {
        let text = filter.to_string();
        {
            let mut base = self.inner.base.write().unwrap_or_else(|e| e.into_inner());
            if base.text == text {
                return;
            }
            *base = Base { filter, text };
        }
        // As in `apply`: not under our lock, this calls back into register_callsite.
        tracing_core::callsite::rebuild_interest_cache();
        tracing::info!(level = %self.base(), "log level changed");
    }

    fn read_base(&self) -> std::sync::RwLockReadGuard<'_, Base> {
        self.inner.base.read().unwrap_or_else(|e| e.into_inner())
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
        let transports = if debug_transports.is_empty() {
            "none".to_owned()
        } else {
            debug_transports.join(", ")
        };
        tracing::info!(%transports, "debug logging per transport changed");
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
        let base = Layer::<S>::register_callsite(&self.read_base().filter, meta);
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
        Layer::<S>::max_level_hint(&self.read_base().filter).map(|b| b.max(floor))
    }

    fn enabled(&self, meta: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        if is_tagged_span(meta) || Layer::<S>::enabled(&self.read_base().filter, meta, ctx.clone())
        {
            return true;
        }
        self.active() && *meta.level() <= Level::DEBUG && self.debug_in_scope(&ctx)
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        tag_span(attrs, id, &ctx);
        Layer::<S>::on_new_span(&self.read_base().filter, attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        retag_span(id, values, &ctx);
        Layer::<S>::on_record(&self.read_base().filter, id, values, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_enter(&self.read_base().filter, id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_exit(&self.read_base().filter, id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        Layer::<S>::on_close(&self.read_base().filter, id, ctx);
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
