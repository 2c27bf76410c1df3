//! The OpenAPI 3.1 document of the API, generated from the handlers (`#[utoipa::path]`),
//! their types (`ToSchema`, `IntoParams`) and the routes they are mounted on
//! (`utoipa_axum`), so it cannot drift from the code: a route is documented by being
//! routed. This module holds what is said once for all operations: the title and
//! introduction, the bearer scheme, the error answers every authenticated operation can
//! give (401, 503), and the error body.

use std::sync::OnceLock;

use serde::Serialize;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Content, HeaderBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{OpenApi, ToSchema};

/// The error body of every refusal: `{"error": {"code", "message"}}`.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// bad_request, unauthorized, not_found, method_not_allowed, conflict, invalid,
    /// too_large or unavailable.
    code: String,
    /// For a person.
    message: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Pontoon operator API",
        version = "1",
        description = "Everything the web console does, for scripts. JSON in and out. Authenticate with a bearer token made by `pontoon admin token create <name>` on the server. Every change is stored and takes effect at once. Errors are `{\"error\": {\"code\", \"message\"}}` with codes bad_request (400), unauthorized (401), not_found (404), conflict (409), invalid (422), unavailable (503). Passwords are write-only: they are never returned. Lists come a page at a time: `limit` (1 to 1000, default 100) and `offset`; the answer's `total` counts every match and `next` is the offset of the next page (null on the last); administrators and tokens come all at once. Administrators and tokens can be managed here too: a token can create other tokens and console administrators, so give one only to a program you trust with the whole console."
    ),
    servers((url = "/api/v1")),
    security(("bearer" = [])),
    components(schemas(ErrorBody))
)]
struct Intro;

/// The error answers, each once under `components/responses` (name, description).
const ERRORS: [(&str, &str); 7] = [
    (
        "BadRequest",
        "Malformed request (bad JSON, unknown field, bad query parameter)",
    ),
    ("Unauthorized", "Missing or invalid bearer token"),
    (
        "NotFound",
        "No such transport, registration, session, administrator or token",
    ),
    (
        "Conflict",
        "Already exists, or the legacy id is taken by another user",
    ),
    (
        "Invalid",
        "Refused: a bad JID, options the transport does not accept, an empty announcement, a bad password or name, removing the last administrator",
    ),
    ("TooLarge", "The request body is over 64 KiB"),
    (
        "Unavailable",
        "The store or the transport's service did not answer",
    ),
];

/// A reference to one of [`ERRORS`].
fn error_ref(name: &str) -> RefOr<Response> {
    RefOr::Ref(Ref::from_response_name(name))
}

/// Turns the error statuses a handler declared (with a short description) into
/// references to the common error answers, and adds 401 and 503 to every authenticated
/// operation.
fn add_errors(op: &mut Operation, authenticated: bool) {
    let responses = &mut op.responses.responses;
    for (status, name) in [
        ("400", "BadRequest"),
        ("404", "NotFound"),
        ("409", "Conflict"),
        ("413", "TooLarge"),
        ("422", "Invalid"),
    ] {
        if responses.contains_key(status) {
            responses.insert(status.to_owned(), error_ref(name));
        }
    }
    if authenticated {
        responses.insert("401".to_owned(), error_ref("Unauthorized"));
        responses.insert("503".to_owned(), error_ref("Unavailable"));
    }
}

/// Every operation of `doc`, mutably.
fn operations(doc: &mut Document) -> impl Iterator<Item = &mut Operation> {
    doc.paths.paths.values_mut().flat_map(|item| {
        [
            item.get.as_mut(),
            item.put.as_mut(),
            item.post.as_mut(),
            item.delete.as_mut(),
            item.patch.as_mut(),
        ]
        .into_iter()
        .flatten()
    })
}

/// Builds the document from the API's two routers (`authenticated` behind the bearer
/// check, `public` not): the introduction, then each router's operations with their
/// common errors, the error answers and the security scheme.
pub(crate) fn build(mut authenticated: Document, mut public: Document) -> Document {
    for op in operations(&mut authenticated) {
        add_errors(op, true);
    }
    for op in operations(&mut public) {
        add_errors(op, false);
        // Nothing to show: no token needed.
        op.security = Some(Vec::new());
    }
    let mut doc = Intro::openapi();
    doc.merge(authenticated);
    doc.merge(public);
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, description) in ERRORS {
        let mut r = ResponseBuilder::new().description(description).content(
            "application/json",
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("Error")))),
        );
        if name == "Unauthorized" {
            r = r.header(
                "WWW-Authenticate",
                HeaderBuilder::new()
                    .schema(Some(utoipa::openapi::schema::Object::with_type(
                        utoipa::openapi::schema::Type::String,
                    )))
                    .build(),
            );
        }
        components
            .responses
            .insert(name.to_owned(), RefOr::T(r.build()));
    }
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "A token from `pontoon admin token create <name>` (revoke with `pontoon admin token revoke <name>`).",
                ))
                .build(),
        ),
    );
    doc
}

/// The document as served (JSON), built once.
pub(crate) fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let doc = super::document();
        doc.to_pretty_json().unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document could not be written");
            String::from("{}")
        })
    })
}
