//! Which transport (and user) an event belongs to: the `transport` (and `user`) field of
//! the nearest enclosing `service` or `session` span, remembered in the span's extensions
//! by both layers.

use std::fmt;

use tracing::Subscriber;
use tracing::field::{Field, Visit};
use tracing::span;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

/// Names of the spans whose `transport` field tags the events inside them.
pub(super) const TAGGED_SPANS: [&str; 2] = ["service", "session"];

/// The `transport` of a `service`/`session` span, kept in the span's extensions.
struct SpanTransport(String);

/// The `user` of a `session` span, kept in the span's extensions.
struct SpanUser(String);

/// Records the `transport` field of a tagged span (both layers call this; idempotent).
pub(super) fn tag_span<S>(attrs: &span::Attributes<'_>, id: &span::Id, ctx: &Context<'_, S>)
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    if !TAGGED_SPANS.contains(&attrs.metadata().name()) {
        return;
    }
    let mut v = TransportField(None);
    attrs.record(&mut v);
    let mut u = UserField(None);
    attrs.record(&mut u);
    if let Some(span) = ctx.span(id) {
        let mut ext = span.extensions_mut();
        if let Some(t) = v.0 {
            ext.replace(SpanTransport(t));
        }
        if let Some(user) = u.0 {
            ext.replace(SpanUser(user));
        }
    }
}

pub(super) fn retag_span<S>(id: &span::Id, values: &span::Record<'_>, ctx: &Context<'_, S>)
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
pub(super) fn scope_transport<S>(
    span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?
        .scope()
        .find_map(|s| s.extensions().get::<SpanTransport>().map(|t| t.0.clone()))
}

/// The user of the nearest enclosing `session` span of the current span.
pub(super) fn scope_user<S>(
    span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?
        .scope()
        .find_map(|s| s.extensions().get::<SpanUser>().map(|u| u.0.clone()))
}

/// Picks the `user` field out of a span's or event's fields.
pub(super) struct UserField(pub(super) Option<String>);

impl Visit for UserField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "user" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "user" {
            // `%user` (Display) arrives here; `?user` on a String would carry quotes.
            let text = format!("{value:?}");
            self.0 = Some(unquote(text));
        }
    }
}

/// `"x"` as `x` (a `?field` of a string), anything else as it is.
fn unquote(text: String) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(str::to_owned)
        .unwrap_or(text)
}

/// Picks the `transport` field out of a span's or event's fields.
pub(super) struct TransportField(pub(super) Option<String>);

impl Visit for TransportField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "transport" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "transport" {
            // `?transport` on a String prints quotes; `%transport` does not.
            self.0 = Some(unquote(format!("{value:?}")));
        }
    }
}
