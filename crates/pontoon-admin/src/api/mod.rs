//! The REST API under `/api/v1`: JSON in and out, bearer tokens (made with
//! `pontoon admin token create`), errors as `{"error": {"code", "message"}}`.
//!
//! One module per resource. The OpenAPI document served at `/api/v1/openapi.json` is
//! generated from the handlers and the routes they are mounted on (see `doc`): a route is
//! documented by being routed. [`ROUTES`] (tests only) lists the API's surface as we mean
//! it, and a test checks the document against it.

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::Shared;
use crate::ops::OpError;

mod admins;
mod audit;
mod badges;
mod doc;
mod logs;
mod registrations;
mod sessions;
mod status;
mod transports;

/// Every API route (method, path under `/api/v1`), for the test against the document.
#[cfg(test)]
pub(crate) const ROUTES: &[(&str, &str)] = &[
    ("GET", "/status"),
    ("GET", "/transports"),
    ("GET", "/transports/{name}"),
    ("PATCH", "/transports/{name}"),
    ("POST", "/transports/{name}/announce"),
    ("GET", "/registrations"),
    ("POST", "/registrations"),
    ("GET", "/registrations/{transport}/{jid}"),
    ("PATCH", "/registrations/{transport}/{jid}"),
    ("DELETE", "/registrations/{transport}/{jid}"),
    ("GET", "/badges/{transport}/{jid}"),
    ("PUT", "/badges/{transport}/{jid}"),
    ("GET", "/sessions"),
    ("DELETE", "/sessions/{transport}/{jid}"),
    ("GET", "/logs"),
    ("GET", "/audit"),
    ("GET", "/admins"),
    ("PUT", "/admins/{name}"),
    ("DELETE", "/admins/{name}"),
    ("GET", "/tokens"),
    ("POST", "/tokens"),
    ("DELETE", "/tokens/{name}"),
    ("GET", "/openapi.json"),
];

/// The routes behind the bearer token, each documented by its handler.
fn authenticated() -> OpenApiRouter<Shared> {
    OpenApiRouter::new()
        .routes(routes!(status::get))
        .routes(routes!(transports::list))
        .routes(routes!(transports::get, transports::patch))
        .routes(routes!(transports::announce))
        .routes(routes!(registrations::list, registrations::create))
        .routes(routes!(
            registrations::get,
            registrations::patch,
            registrations::delete
        ))
        .routes(routes!(badges::get, badges::put))
        .routes(routes!(sessions::list))
        .routes(routes!(sessions::delete))
        .routes(routes!(logs::list))
        .routes(routes!(audit::list))
        .routes(routes!(admins::list_admins))
        .routes(routes!(admins::put_admin, admins::delete_admin))
        .routes(routes!(admins::list_tokens, admins::create_token))
        .routes(routes!(admins::revoke_token))
}

/// The routes anyone may read.
fn public() -> OpenApiRouter<Shared> {
    OpenApiRouter::new().routes(routes!(openapi))
}

/// The OpenAPI document of the routes above.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    doc::build(authenticated().into_openapi(), public().into_openapi())
}

/// The API's routes, relative to `/api/v1`.
pub(crate) fn routes(state: Shared) -> Router<Shared> {
    let (authed, _) = authenticated().split_for_parts();
    let (public, _) = public().split_for_parts();
    public
        .merge(authed.route_layer(axum::middleware::from_fn_with_state(state, bearer)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

/// This document
#[utoipa::path(get, path = "/openapi.json", operation_id = "openapi",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi() -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], doc::json())
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such API route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// Who made a request (for the audit log): `token:<name>`.
#[derive(Clone, Debug)]
pub(crate) struct Actor(pub(crate) String);

/// Checks the bearer token; the token's name goes into the request as its [`Actor`].
async fn bearer(State(state): State<Shared>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return ApiError::unauthorized("an API token is needed (Authorization: Bearer <token>)")
            .into_response();
    };
    match state.gw.store.verify_api_token(&token).await {
        Ok(Some(name)) => {
            req.extensions_mut().insert(Actor(format!("token:{name}")));
            next.run(req).await
        }
        Ok(None) => ApiError::unauthorized("the API token is not valid").into_response(),
        Err(e) => ApiError::from(OpError::from(e)).into_response(),
    }
}

/// An error answer.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: &str) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        ApiError::new(e.status(), e.code(), e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"pontoon\""),
            );
        }
        res
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;

/// `Json` whose rejections are API errors.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                r.status(),
                "too_large",
                "the request body is too large",
            )),
            Err(r) => Err(ApiError::bad_request(r.body_text())),
        }
    }
}

/// `Query` whose rejections are API errors.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}

/// `Path` whose rejections are API errors.
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|r| ApiError::bad_request(r.body_text()))
    }
}

/// The `offset` of the page after the one at `offset` (`limit` rows) of `total`, if
/// there is one: the `next` of every paged list.
pub(crate) fn next_offset(offset: u32, limit: u32, total: u64) -> Option<u32> {
    let end = u64::from(offset) + u64::from(limit);
    u32::try_from(end).ok().filter(|e| u64::from(*e) < total)
}

/// For `PATCH` fields where `null` means "clear" and absence means "keep":
/// `Option<Option<T>>` with `#[serde(default, deserialize_with = "nullable")]`.
pub(crate) fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn openapi_describes_every_route() {
        let text = doc::json();
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(doc["servers"][0]["url"], "/api/v1");
        let paths = doc["paths"].as_object().unwrap();
        for (method, path) in ROUTES {
            let op = &paths.get(*path).unwrap_or_else(|| panic!("{path} missing"))
                [method.to_lowercase()];
            assert!(op.is_object(), "{method} {path} missing");
            assert!(op["responses"].is_object(), "{method} {path}: no responses");
        }
        // Nothing documented that does not exist.
        for (path, item) in paths {
            for method in item.as_object().unwrap().keys() {
                if method == "parameters" {
                    continue;
                }
                assert!(
                    ROUTES
                        .iter()
                        .any(|(m, p)| p == path && m.eq_ignore_ascii_case(method)),
                    "{method} {path} documented but not routed"
                );
            }
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
        assert!(doc["components"]["schemas"]["Error"].is_object());
        // Every $ref points at something.
        for part in text.split("\"$ref\": \"#/components/").skip(1) {
            let target = part.split('"').next().unwrap();
            let mut node = &doc["components"];
            for seg in target.split('/') {
                node = &node[seg];
            }
            assert!(!node.is_null(), "dangling $ref {target}");
        }
    }

    #[test]
    fn next_offsets() {
        assert_eq!(next_offset(0, 100, 250), Some(100));
        assert_eq!(next_offset(200, 100, 250), None);
        assert_eq!(next_offset(0, 100, 100), None);
        assert_eq!(next_offset(u32::MAX, 1000, u64::MAX), None);
    }

    #[test]
    fn nullable_tells_null_from_absent() {
        #[derive(serde::Deserialize)]
        struct P {
            #[serde(default, deserialize_with = "nullable")]
            password: Option<Option<String>>,
        }
        let p: P = serde_json::from_str("{}").unwrap();
        assert_eq!(p.password, None);
        let p: P = serde_json::from_str(r#"{"password": null}"#).unwrap();
        assert_eq!(p.password, Some(None));
        let p: P = serde_json::from_str(r#"{"password": "x"}"#).unwrap();
        assert_eq!(p.password, Some(Some("x".into())));
    }
}
