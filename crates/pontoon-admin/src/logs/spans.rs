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

/// The `transport` and `user` of a `service`/`session` span, kept in the span's extensions:
/// one entry for both (two entries beside the text layer's fields grew the span's extension
/// table from four slots to eight, about 190 bytes more per user session: performance
/// pass 4).
struct SpanTags {
    transport: Option<Box<str>>,
    user: Option<Box<str>>,
}

/// Records the `transport` and `user` fields of a tagged span (both layers call this;
/// idempotent).
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
    if v.value.is_none() && u.value.is_none() {
        return;
    }
    if let Some(span) = ctx.span(id) {
        span.extensions_mut().replace(SpanTags {
            transport: v.value.map(String::into_boxed_str),
            user: u.value.map(String::into_boxed_str),
        });
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
        let mut ext = span.extensions_mut();
        match ext.get_mut::<SpanTags>() {
            Some(tags) => tags.transport = Some(t.into_boxed_str()),
            None => ext.insert(SpanTags {
                transport: Some(t.into_boxed_str()),
                user: None,
            }),
        }
    }
}

/// The transport of the nearest enclosing tagged span of the current span.
pub(super) fn scope_transport<S>(
    span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?.scope().find_map(|s| {
        s.extensions()
            .get::<SpanTags>()
            .and_then(|t| t.transport.as_deref().map(str::to_owned))
    })
}

/// The user of the nearest enclosing `session` span of the current span.
pub(super) fn scope_user<S>(
    span: Option<tracing_subscriber::registry::SpanRef<'_, S>>,
) -> Option<String>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    span?.scope().find_map(|s| {
        s.extensions()
            .get::<SpanTags>()
            .and_then(|t| t.user.as_deref().map(str::to_owned))
    })
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
