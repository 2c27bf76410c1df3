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
    let mut v = FieldText::new("transport");
    attrs.record(&mut v);
    let mut u = FieldText::new("user");
    attrs.record(&mut u);
    if let Some(span) = ctx.span(id) {
        let mut ext = span.extensions_mut();
        if let Some(t) = v.value {
            ext.replace(SpanTransport(t));
        }
        if let Some(user) = u.value {
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
    let mut v = FieldText::new("transport");
    values.record(&mut v);
    if let Some(t) = v.value {
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

/// `"x"` as `x` (a `?field` of a string), anything else as it is.
fn unquote(text: String) -> String {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .map(str::to_owned)
        .unwrap_or(text)
}

/// Picks one field (`transport`, `user`) out of a span's or event's fields, as text.
pub(super) struct FieldText {
    name: &'static str,
    /// The field's value, if it was there.
    pub(super) value: Option<String>,
}

impl FieldText {
    pub(super) fn new(name: &'static str) -> FieldText {
        FieldText { name, value: None }
    }
}

impl Visit for FieldText {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == self.name {
            self.value = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == self.name {
            // `?field` on a String prints quotes; `%field` does not.
            self.value = Some(unquote(format!("{value:?}")));
        }
    }
}
