//! [`LogBuffer`]: the last events, in memory, for the Logs page and `GET /api/v1/logs`.

use std::collections::VecDeque;
use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber, span};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::spans::{FieldText, retag_span, scope_transport, scope_user, tag_span};

/// How many events [`LogBuffer::default`] keeps.
pub const DEFAULT_CAPACITY: usize = 1000;

/// Longest message kept per event, in bytes (longer ones are cut at a char boundary).
const MAX_MESSAGE: usize = 4096;

/// Fields never copied into the buffer.
const SECRET_FIELDS: [&str; 5] = ["password", "secret", "token", "passwd", "key"];

/// One recorded event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// The event's number: increasing by one per event the buffer took, never reused (the
    /// cursor of [`LogQuery::before`] and [`LogQuery::after`]). Set by [`LogBuffer::push`].
    pub seq: u64,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    /// Severity.
    pub level: Level,
    /// The event's target (module path unless set).
    pub target: String,
    /// The transport the event belongs to: its own `transport` field, or that of the
    /// nearest enclosing `service`/`session` span.
    pub transport: Option<String>,
    /// The user the event is about: its own `user` field, or that of the nearest enclosing
    /// `session` span.
    pub user: Option<String>,
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
    /// Only events older than this one (its `seq`): the page after one ending there.
    pub before: Option<u64>,
    /// Only events newer than this one: the page before one starting there (the oldest
    /// `limit` of them, still returned newest first). Ignored when `before` is set.
    pub after: Option<u64>,
}

/// One page of [`LogBuffer::page`].
#[derive(Clone, Debug, Default)]
pub struct LogPage {
    /// The events, newest first.
    pub entries: Vec<LogEntry>,
    /// Whether older matching events are kept (a next page).
    pub older: bool,
    /// Whether newer matching events are kept.
    pub newer: bool,
}

struct Ring {
    capacity: usize,
    next_seq: u64,
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
                next_seq: 1,
                entries: VecDeque::with_capacity(capacity.min(1024)),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ring> {
        // A panic elsewhere while holding the lock leaves a consistent ring: keep going.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds an event, dropping the oldest when full.
    pub fn push(&self, mut entry: LogEntry) {
        let mut ring = self.lock();
        if ring.entries.len() >= ring.capacity {
            ring.entries.pop_front();
        }
        entry.seq = ring.next_seq;
        ring.next_seq += 1;
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
        self.page(q).entries
    }

    /// One page of matching events, newest first, and whether there are more either side.
    pub fn page(&self, q: &LogQuery) -> LogPage {
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        let matches = |e: &&LogEntry| {
            q.transport
                .as_deref()
                .is_none_or(|t| e.transport.as_deref() == Some(t))
                // Level order in tracing: ERROR < WARN < INFO < DEBUG < TRACE.
                && q.min_level.is_none_or(|min| e.level <= min)
        };
        let ring = self.lock();
        let mut entries: Vec<LogEntry> = match (q.before, q.after) {
            (None, Some(after)) => {
                let mut oldest_first: Vec<LogEntry> = ring
                    .entries
                    .iter()
                    .filter(|e| e.seq > after)
                    .filter(matches)
                    .take(limit)
                    .cloned()
                    .collect();
                oldest_first.reverse();
                oldest_first
            }
            (before, _) => ring
                .entries
                .iter()
                .rev()
                .filter(|e| before.is_none_or(|b| e.seq < b))
                .filter(matches)
                .take(limit)
                .cloned()
                .collect(),
        };
        entries.shrink_to_fit();
        let (newest, oldest) = match (entries.first(), entries.last()) {
            (Some(n), Some(o)) => (n.seq, o.seq),
            // An empty page: whatever lies on the side it was asked from.
            _ => match (q.before, q.after) {
                (Some(b), _) => (b, b),
                (None, Some(a)) => (a, a),
                (None, None) => (u64::MAX, u64::MAX),
            },
        };
        let older = ring
            .entries
            .iter()
            .rev()
            .filter(|e| e.seq < oldest)
            .any(|e| matches(&e));
        let newer = ring
            .entries
            .iter()
            .filter(|e| e.seq > newest)
            .any(|e| matches(&e));
        LogPage {
            entries,
            older,
            newer,
        }
    }
}

/// Formats an event's message and fields.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
    transport: Option<String>,
    user: Option<String>,
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
        if field.name() == "user" {
            self.user = Some(value.to_owned());
        }
        self.field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "transport" {
            let mut t = FieldText::new("transport");
            t.record_debug(field, value);
            self.transport = t.value;
            return;
        }
        if field.name() == "user" {
            let mut u = FieldText::new("user");
            u.record_debug(field, value);
            self.user = u.value;
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

fn unix_ms() -> i64 {
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
        let user = text
            .user
            .take()
            .or_else(|| scope_user(ctx.event_span(event)));
        let mut message = text.message;
        message.push_str(&text.fields);
        let meta = event.metadata();
        self.push(LogEntry {
            seq: 0,
            user,
            time_ms: unix_ms(),
            level: *meta.level(),
            target: meta.target().to_owned(),
            transport,
            message: truncate(message, MAX_MESSAGE),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_char_boundary() {
        let s = truncate("é".repeat(10), 5);
        assert_eq!(s, "éé…");
    }
}
