//! Talking to a homeserver: ruma's typed requests over one shared reqwest client.
//!
//! This is the one place the transport touches HTTP (and the one module to change when
//! reqwest or ruma move). Every answer is hostile: it is read up to a size limit before
//! it is parsed, errors become an [`HttpError`] that says what to do next (wait and retry,
//! or tell the user), and the addresses a name resolves to are checked ([`Guard`]) so a
//! user cannot point the gateway at the operator's internal services.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use ruma::api::auth_scheme::{
    AccessToken, AccessTokenOptional, AppserviceTokenOptional, AuthScheme, NoAccessToken,
    NoAuthentication, SendAccessToken,
};
use ruma::api::error::{ErrorKind, FromHttpResponseError, RetryAfter};
use ruma::api::path_builder::{PathBuilder, SinglePath, VersionHistory};
use ruma::api::{IncomingResponse, OutgoingRequest, SupportedVersions};

/// Why a request to the homeserver did not succeed, and so what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// No answer: connection refused, reset, timed out. Try again later.
    #[error("the homeserver could not be reached: {0}")]
    Unreachable(String),
    /// 429: try again after the time the homeserver asked for (`retry_after_ms`).
    #[error("the homeserver asks to slow down")]
    RateLimited(Option<Duration>),
    /// 5xx: the homeserver failed; try again later.
    #[error("the homeserver failed (HTTP {status}): {message}")]
    ServerError {
        /// The HTTP status.
        status: u16,
        /// The homeserver's words, if any.
        message: String,
    },
    /// The access token is no longer valid (logged out, revoked, or expired).
    #[error("the homeserver no longer accepts Pontoon's login: {message}")]
    UnknownToken {
        /// The homeserver's words.
        message: String,
    },
    /// The homeserver refused the request itself (4xx with a Matrix error code).
    #[error("{message} ({code})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The Matrix error code (`M_FORBIDDEN`, ...).
        code: String,
        /// The homeserver's words.
        message: String,
    },
    /// The answer was larger than the configured limit; it was not read.
    #[error("the homeserver's answer is larger than {0} bytes")]
    TooLarge(usize),
    /// The answer was not what the API says.
    #[error("the homeserver's answer could not be read: {0}")]
    Malformed(String),
}

impl HttpError {
    /// Whether trying the same request again later may work.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            HttpError::Unreachable(_) | HttpError::RateLimited(_) | HttpError::ServerError { .. }
        )
    }

    /// The wait the homeserver asked for, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            HttpError::RateLimited(d) => *d,
            _ => None,
        }
    }

    /// The Matrix error code, for a refusal.
    pub fn code(&self) -> Option<&str> {
        match self {
            HttpError::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// How a request's authentication is given (ruma types it per endpoint).
pub trait Auth: AuthScheme {
    /// The input for this scheme from the session's access token, if any.
    fn input(token: Option<&str>) -> Self::Input<'_>;
}

fn send_token(token: Option<&str>) -> SendAccessToken<'_> {
    match token {
        Some(t) => SendAccessToken::IfRequired(t),
        None => SendAccessToken::None,
    }
}

impl Auth for AccessToken {
    fn input(token: Option<&str>) -> SendAccessToken<'_> {
        send_token(token)
    }
}

impl Auth for AccessTokenOptional {
    // Sent whenever the session has one: homeservers answer more to a user (a public room
    // directory of another server, for one).
    fn input(token: Option<&str>) -> SendAccessToken<'_> {
        match token {
            Some(t) => SendAccessToken::Always(t),
            None => SendAccessToken::None,
        }
    }
}

impl Auth for AppserviceTokenOptional {
    fn input(token: Option<&str>) -> SendAccessToken<'_> {
        send_token(token)
    }
}

impl Auth for NoAccessToken {
    fn input(_: Option<&str>) -> SendAccessToken<'_> {
        SendAccessToken::None
    }
}

impl Auth for NoAuthentication {
    fn input(_: Option<&str>) {}
}

/// How a request's path is chosen (ruma types it per endpoint).
pub trait Path: PathBuilder {
    /// The input for this builder.
    fn input(versions: &SupportedVersions) -> Self::Input<'_>;
}

impl Path for VersionHistory {
    fn input(versions: &SupportedVersions) -> Cow<'_, SupportedVersions> {
        Cow::Borrowed(versions)
    }
}

impl Path for SinglePath {
    fn input(_: &SupportedVersions) {}
}

/// Checks the addresses a host name resolves to: a name the operator configured may be
/// internal (a homeserver on the same machine), any other must be public.
#[derive(Debug)]
struct Guard {
    trusted: Vec<String>,
}

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let trusted = self.trusted.contains(&host);
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| trusted || !pontoon_core::net::internal_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                let e: Box<dyn std::error::Error + Send + Sync> = format!(
                    "{host} resolves to no public address; connecting there is not allowed on this gateway"
                )
                .into();
                return Err(e);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client every session of one transport shares (one connection pool).
#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    /// Host names the operator named, which may be internal.
    trusted: Arc<Vec<String>>,
    max_bytes: usize,
    versions: Arc<SupportedVersions>,
}

impl Http {
    /// A client that may reach the `trusted` host names even where they are internal, and
    /// reads answers up to `max_bytes`.
    pub fn new(trusted: Vec<String>, max_bytes: usize) -> Result<Http, String> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("Pontoon/", env!("CARGO_PKG_VERSION")))
            // The Matrix API never redirects; a redirect could lead to a literal internal
            // address, which the resolver never sees.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(Guard {
                trusted: trusted.clone(),
            }))
            .connect_timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| format!("the HTTP client could not be set up: {e}"))?;
        // Every homeserver of the last years speaks the v1.1+ paths; the authenticated
        // media paths need v1.11.
        let versions = SupportedVersions::from_parts(
            &[
                "v1.1", "v1.2", "v1.3", "v1.4", "v1.5", "v1.6", "v1.7", "v1.8", "v1.9", "v1.10",
                "v1.11",
            ]
            .map(str::to_owned),
            &Default::default(),
        );
        Ok(Http {
            client,
            trusted: Arc::new(trusted),
            max_bytes,
            versions: Arc::new(versions),
        })
    }

    /// Sends `request` to the homeserver at `base` (its API base URL), with the access
    /// `token` where the endpoint wants one, waiting at most `timeout` for the answer.
    pub async fn send<R>(
        &self,
        base: &str,
        token: Option<&str>,
        request: R,
        timeout: Duration,
    ) -> Result<R::IncomingResponse, HttpError>
    where
        R: OutgoingRequest,
        R::Authentication: Auth,
        R::PathBuilder: Path,
        R::IncomingResponse: IncomingResponse<EndpointError = ruma::api::error::Error>,
    {
        let request = self.build(base, token, request)?;
        let answer = tokio::time::timeout(timeout, self.exchange(request))
            .await
            .map_err(|_| HttpError::Unreachable("no answer in time".to_owned()))??;
        R::IncomingResponse::try_from_http_response(answer).map_err(classify)
    }

    /// `request` as reqwest's, for the homeserver at `base` with `token`.
    fn build<R>(
        &self,
        base: &str,
        token: Option<&str>,
        request: R,
    ) -> Result<reqwest::Request, HttpError>
    where
        R: OutgoingRequest,
        R::Authentication: Auth,
        R::PathBuilder: Path,
    {
        let request = request
            .try_into_http_request::<Vec<u8>>(
                base.trim_end_matches('/'),
                <R::Authentication as Auth>::input(token),
                <R::PathBuilder as Path>::input(&self.versions),
            )
            .map_err(|e| HttpError::Malformed(format!("the request could not be built: {e}")))?;
        reqwest::Request::try_from(request)
            .map_err(|e| HttpError::Malformed(format!("the request could not be built: {e}")))
    }

    /// Sends `request` like [`Http::send`] and answers the response unread, for a body
    /// the caller streams (a media download); an error status is read and classified as
    /// [`Http::send`] does.
    pub async fn open<R>(
        &self,
        base: &str,
        token: Option<&str>,
        request: R,
    ) -> Result<reqwest::Response, HttpError>
    where
        R: OutgoingRequest,
        R::Authentication: Auth,
        R::PathBuilder: Path,
        R::IncomingResponse: IncomingResponse<EndpointError = ruma::api::error::Error>,
    {
        let request = self.build(base, token, request)?;
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| HttpError::Unreachable(describe(&e)))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let answer = self.read(response).await?;
        match R::IncomingResponse::try_from_http_response(answer) {
            Err(e) => Err(classify(e)),
            Ok(_) => Err(HttpError::Malformed(
                "an error status with a success body".into(),
            )),
        }
    }

    /// Fetches a file from `url` (an XMPP client's link: any web server), reading at most
    /// `max_bytes`; answers its bytes and type. Literal internal addresses are refused
    /// here (the resolver never sees them), unless the operator named them.
    pub async fn fetch_url(
        &self,
        url: &str,
        max_bytes: u64,
        timeout: Duration,
    ) -> Result<(Vec<u8>, Option<String>), HttpError> {
        let parsed =
            url::Url::parse(url).map_err(|e| HttpError::Malformed(format!("not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(HttpError::Malformed(
                "only http and https links are fetched".into(),
            ));
        }
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
            Some(url::Host::Domain(_)) => None,
            None => return Err(HttpError::Malformed("the link has no host".into())),
        };
        if let Some(ip) = literal
            && pontoon_core::net::internal_ip(ip)
            && !self
                .trusted
                .iter()
                .any(|t| t.parse::<std::net::IpAddr>().ok() == Some(ip))
        {
            return Err(HttpError::Refused {
                status: 403,
                code: String::new(),
                message: format!(
                    "{ip} is an internal address; fetching from it is not allowed on this gateway"
                ),
            });
        }
        let fetch = async {
            let mut response = self
                .client
                .get(parsed)
                .send()
                .await
                .map_err(|e| HttpError::Unreachable(describe(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(HttpError::Refused {
                    status: status.as_u16(),
                    code: String::new(),
                    message: format!("the link answered HTTP {status}"),
                });
            }
            if response.content_length().is_some_and(|n| n > max_bytes) {
                return Err(HttpError::TooLarge(
                    usize::try_from(max_bytes).unwrap_or(usize::MAX),
                ));
            }
            let media_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned());
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| HttpError::Unreachable(describe(&e)))?
            {
                if (body.len() + chunk.len()) as u64 > max_bytes {
                    return Err(HttpError::TooLarge(
                        usize::try_from(max_bytes).unwrap_or(usize::MAX),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok((body, media_type))
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| HttpError::Unreachable("the link sent no file in time".to_owned()))?
    }

    /// Sends a plain request and reads the answer up to the size limit.
    async fn exchange(
        &self,
        request: reqwest::Request,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        let response = self
            .client
            .execute(request)
            .await
            .map_err(|e| HttpError::Unreachable(describe(&e)))?;
        // Boxed: this future is what an idle session holds (its `/sync` long-poll).
        Box::pin(self.read(response)).await
    }

    /// Reads an answer up to the size limit.
    async fn read(
        &self,
        mut response: reqwest::Response,
    ) -> Result<http::Response<Vec<u8>>, HttpError> {
        if response
            .content_length()
            .is_some_and(|n| n > self.max_bytes as u64)
        {
            return Err(HttpError::TooLarge(self.max_bytes));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HttpError::Unreachable(describe(&e)))?
        {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(HttpError::TooLarge(self.max_bytes));
            }
            body.extend_from_slice(&chunk);
        }
        let mut answer = http::Response::new(body);
        *answer.status_mut() = response.status();
        *answer.headers_mut() = std::mem::take(response.headers_mut());
        Ok(answer)
    }
}

/// reqwest's error with its causes, which say what actually went wrong.
fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn classify(e: FromHttpResponseError<ruma::api::error::Error>) -> HttpError {
    let e = match e {
        FromHttpResponseError::Deserialization(d) => return HttpError::Malformed(d.to_string()),
        FromHttpResponseError::Server(e) => e,
        other => return HttpError::Malformed(other.to_string()),
    };
    let status = e.status_code.as_u16();
    let message = match &e.body {
        ruma::api::error::ErrorBody::Standard(b) => b.message.clone(),
        other => format!("{other:?}").chars().take(200).collect(),
    };
    match e.error_kind() {
        Some(ErrorKind::LimitExceeded(data)) => HttpError::RateLimited(match data.retry_after {
            Some(RetryAfter::Delay(d)) => Some(d),
            Some(RetryAfter::DateTime(t)) => t.duration_since(std::time::SystemTime::now()).ok(),
            None => None,
        }),
        Some(ErrorKind::UnknownToken(_)) => HttpError::UnknownToken { message },
        _ if status == 429 => HttpError::RateLimited(None),
        _ if status >= 500 => HttpError::ServerError { status, message },
        Some(kind) => HttpError::Refused {
            status,
            code: kind.errcode().to_string(),
            message,
        },
        None => HttpError::Refused {
            status,
            code: String::new(),
            message,
        },
    }
}
