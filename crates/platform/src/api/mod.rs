//! The HTTP JSON API of the CT IoT platform and CTWing AEP stand-ins (docs/api.md): devices and
//! their keys and state, uplinks, downlinks, products, faults and DFOTA (manufacturers' keys,
//! signed packages, upgrade tasks), for people (curl) and scripts.
//!
//! It runs on the platforms' tokio runtime beside the control port, on loopback only, and takes
//! the control port's token: every request carries `Authorization: Bearer <control.token>` (or
//! the session cookie of the web console, opened with that token: [`crate::web::session`]), or
//! is answered 401. Every answer is JSON; an error is `{"error": "…"}` with a 4xx or 5xx status,
//! whatever went wrong (a rejection of axum's extractors included: [`json_errors`]).
//!
//! A change answers only once it is durable: it goes through [`Admin`] (checked, written, the
//! ticket waited for, then applied to the state the servers read), one change at a time. A queued
//! downlink waits there for the device's next contact (the servers send it then).
//!
//! - [`routes`]: the handlers;
//! - [`fota`]: the DFOTA routes (keys, signed package uploads, tasks);
//! - [`console`]: the web console's routes (login, live events, every server's records and
//!   faults); the console's pages themselves are [`crate::web`]'s;
//! - [`connections`]: how many connections at once, and for how long.
//!
//! Its client, `nbmodem platform iot|aep …`, is in the nbmodem-cli crate
//! (`crates/cli/src/platform/`).

mod codec;
pub mod connections;
mod console;
mod fota;
mod operations;
mod routes;

use crate::control::{ControlToken, FaultTargets};
use crate::ctiot::admin::{Admin, AdminError, Pending};
use crate::ctiot::{Flavour, SharedState};
use crate::store::{Store, StoreError};
use crate::web::events::Events;
use crate::web::session::Sessions;
use crate::writer::{OnFailure, RecordWriter, Storage, Writing};
use crate::CtIotServer;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header::{ALLOW, AUTHORIZATION, CONTENT_TYPE, COOKIE};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use nbmodem_net::udp::lock;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;

/// Where the API listens unless told otherwise (beside the control port's 15680).
pub const DEFAULT_API: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 15681));

/// The largest request body: a profile document is a few kilobytes.
pub const MAX_BODY: usize = 64 * 1024;

/// How long a change may wait for the store before it is answered 503.
const COMMIT_LIMIT: Duration = Duration::from_secs(10);

/// The running CT IoT servers, as the API acts on them.
pub trait CtIotNodes: Send + Sync {
    /// Runs `action` on each server of `flavour` (its plain and DTLS addresses), then wakes their
    /// drivers so that what the action made them send goes out.
    fn with_nodes(&self, flavour: Flavour, action: &mut dyn FnMut(&mut CtIotServer));
}

/// What the handlers share.
#[derive(Clone)]
struct Api {
    token: Arc<ControlToken>,
    /// One change at a time, from its checks until it is applied: a change is checked against
    /// the state the changes before it made.
    admin: Arc<tokio::sync::Mutex<Admin>>,
    /// Woken by the admin's writer after each batch it commits.
    committed: Arc<Notify>,
    /// For the reads the state does not hold (uplinks, downlink history); used off the runtime.
    store: Arc<Mutex<Store>>,
    /// How the database's writers fare (`GET /api/storage`).
    storage: Arc<Storage>,
    state: SharedState,
    nodes: Arc<dyn CtIotNodes>,
    /// Every server, for the faults of any of them (`/api/faults/{server}`).
    servers: Arc<Mutex<Box<dyn FaultTargets + Send>>>,
    /// The web console's sessions, opened with the token.
    sessions: Arc<Sessions>,
    /// What the writers commit, for `GET /api/events`.
    events: Events,
}

/// What the API reaches beyond the CT IoT platforms: every server (their faults), and the
/// events of what their writers commit (the API's own writer is given its observer here).
pub struct Everything {
    pub servers: Box<dyn FaultTargets + Send>,
    pub events: Events,
}

/// An error answer: `{"error": message}` with `status`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message });
        (self.status, Json(body)).into_response()
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        let status = match e {
            AdminError::NoSuchDevice(..)
            | AdminError::NoSuchKey(..)
            | AdminError::NoSuchPackage(..)
            | AdminError::NoSuchTask(..) => StatusCode::NOT_FOUND,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl Api {
    /// Makes a change the way [`Admin`] wants it: checked and written by `make`, applied once
    /// durable; the change's value.
    async fn change<T>(
        &self,
        make: impl FnOnce(&mut Admin) -> Result<Pending<T>, AdminError>,
    ) -> Result<T, ApiError> {
        let mut admin = self.admin.lock().await;
        let unchanged = "the store cannot write now (is the disk full?): nothing was changed";
        if admin.store_fails() {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, unchanged));
        }
        let pending = make(&mut admin)?;
        let deadline = tokio::time::Instant::now() + COMMIT_LIMIT;
        loop {
            match admin.is_committed(pending.ticket) {
                Some(true) => break,
                Some(false) => {
                    return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, unchanged));
                }
                None => {}
            }
            // A wake-up left over from an earlier batch only costs one more look.
            if tokio::time::timeout_at(deadline, self.committed.notified())
                .await
                .is_err()
            {
                let why = "the store did not confirm the change in time; it may still be made";
                return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why));
            }
        }
        Ok(admin.apply(pending))
    }

    /// Runs a query on the store on a blocking thread (SQLite reads the disk).
    async fn query<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || query(&lock(&store)))
            .await
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
            .map_err(ApiError::from)
    }
}

/// The API of the platforms whose database is in `data_dir` and whose servers share `state`,
/// taking `token`; `nodes` are the running CT IoT servers, `everything` all of them and their
/// events. It serves the web console too ([`crate::web`]).
pub fn router(
    data_dir: &Path,
    state: SharedState,
    token: ControlToken,
    nodes: Arc<dyn CtIotNodes>,
    everything: Everything,
) -> Result<Router, StoreError> {
    // A change is made to the state only once durable: a failed one is given up, refused.
    let mut writer = RecordWriter::open_with(data_dir, Writing::Thread, OnFailure::GiveUp)?;
    writer.set_observer(everything.events.observer());
    let mut admin = Admin::new(Arc::clone(&state), writer);
    let committed = Arc::new(Notify::new());
    admin.set_wake(Arc::clone(&committed));
    let api = Api {
        token: Arc::new(token),
        admin: Arc::new(tokio::sync::Mutex::new(admin)),
        committed,
        store: Arc::new(Mutex::new(Store::open(data_dir)?)),
        storage: Storage::of(data_dir),
        state,
        nodes,
        servers: Arc::new(Mutex::new(everything.servers)),
        sessions: Arc::default(),
        events: everything.events,
    };
    let authorized = routes::routes()
        .merge(fota::routes())
        .merge(codec::routes())
        .merge(operations::routes())
        .merge(console::routes())
        .layer(middleware::from_fn_with_state(api.clone(), authorize));
    Ok(authorized
        .merge(console::session_routes())
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(middleware::map_response(json_errors))
        .with_state(api))
}

/// Serves `router` on `listener` until the future is dropped, within the bounds of
/// [`connections`].
pub async fn serve(listener: TcpListener, router: Router) -> std::io::Result<()> {
    connections::serve(listener, router).await
}

/// Lets a request through only with the control token as its bearer token, or the cookie of a
/// session opened with it.
async fn authorize(State(api): State<Api>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.as_bytes().strip_prefix(b"Bearer "));
    let by_token = presented.is_some_and(|token| api.token.accepts(token.trim_ascii()));
    let by_session = || {
        headers
            .get_all(COOKIE)
            .iter()
            .any(|cookie| api.sessions.accepts(cookie.as_bytes()))
    };
    if by_token || by_session() {
        return next.run(request).await;
    }
    let why = "no valid token: send Authorization: Bearer <the data directory's control.token> (or log in to the console)";
    ApiError::new(StatusCode::UNAUTHORIZED, why).into_response()
}

/// The longest error text of axum's own answers kept.
const MAX_ERROR_TEXT: usize = 4096;

/// Turns an error answer that is not JSON (a rejection of axum's extractors: malformed JSON, a
/// wrong type, a body too large, a bad path or query, a method a route does not take) into
/// `{"error": its text}`.
async fn json_errors(response: Response) -> Response {
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    let failed = response.status().is_client_error() || response.status().is_server_error();
    if is_json || !failed {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|bytes| String::from_utf8_lossy(&bytes).trim().to_string())
        .unwrap_or_default();
    let message = match text.is_empty() {
        true => parts
            .status
            .canonical_reason()
            .unwrap_or("error")
            .to_string(),
        false => text,
    };
    let mut answer = ApiError::new(parts.status, message).into_response();
    if let Some(allow) = parts.headers.get(ALLOW) {
        answer.headers_mut().insert(ALLOW, allow.clone());
    }
    answer
}
