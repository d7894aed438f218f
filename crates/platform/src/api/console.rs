//! The API's routes for the web console (crate::web), usable by any client: logging in and out
//! (a session cookie the API takes as it takes the token), the live events of what is durable,
//! and the records and faults of every server (the CT and CU registries and the DM server as well
//! as the CT IoT platforms).

use super::routes::FaultSettings;
use super::{Api, ApiError};
use crate::control::ControlCommand;
use crate::record::Server;
use crate::web::events::ConsoleEvent;
use crate::web::session::{clear_cookie, set_cookie};
use crate::RequestRecord;
use axum::extract::{Path, Query, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::Stream;
use nbmodem_net::udp::lock;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The records a page holds unless the query says otherwise, and at most.
const DEFAULT_RECORDS: i64 = 100;
const MAX_RECORDS: i64 = 1000;

/// How often an idle event stream sends a comment, so that it is seen to be alive (and the API's
/// idle-connection bound never applies to it).
const KEEP_ALIVE: Duration = Duration::from_secs(5);

/// The routes that take the token (or a session).
pub(super) fn routes() -> Router<Api> {
    Router::new()
        .route("/api/events", get(events))
        .route("/api/records/{server}", get(records))
        .route(
            "/api/faults/{server}",
            get(faults).post(set_faults).delete(clear_faults),
        )
}

/// Logging in and out, and whether one is, which take no token beforehand.
pub(super) fn session_routes() -> Router<Api> {
    Router::new()
        .route("/api/session", get(session))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    /// The control token (the data directory's control.token).
    token: String,
}

#[derive(Debug, Serialize)]
struct LoggedIn {
    logged_in: bool,
}

/// Opens a session for whoever presents the token: its cookie, or 401 and no cookie.
async fn login(State(api): State<Api>, Json(login): Json<Login>) -> impl IntoResponse {
    if !api.token.accepts(login.token.trim().as_bytes()) {
        let why = "that is not the platform's token: paste the content of control.token in its data directory";
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, why));
    }
    let id = api
        .sessions
        .open()
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((
        [(SET_COOKIE, set_cookie(&id))],
        Json(LoggedIn { logged_in: true }),
    ))
}

/// Whether the request carries an open session (the page asks before showing the login).
async fn session(State(api): State<Api>, headers: HeaderMap) -> Json<LoggedIn> {
    let logged_in = headers
        .get_all(COOKIE)
        .iter()
        .any(|cookie| api.sessions.accepts(cookie.as_bytes()));
    Json(LoggedIn { logged_in })
}

/// Ends the request's session, if it has one, and tells the browser to forget it.
async fn logout(State(api): State<Api>, headers: HeaderMap) -> impl IntoResponse {
    for cookie in headers.get_all(COOKIE) {
        api.sessions.close(cookie.as_bytes());
    }
    (
        [(SET_COOKIE, clear_cookie())],
        Json(LoggedIn { logged_in: false }),
    )
}

/// What is committed from now on, one JSON event per write, as server-sent events.
async fn events(State(api): State<Api>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = api.events.subscribe();
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(event) => event,
            Err(RecvError::Lagged(missed)) => ConsoleEvent::lagged(missed),
            Err(RecvError::Closed) => return None,
        };
        let data = serde_json::to_string(&event).unwrap_or_default();
        Some((Ok(Event::default().data(data)), receiver))
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}

/// How many records, newest first.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsQuery {
    limit: Option<i64>,
}

#[derive(Debug, Serialize)]
struct Records {
    records: Vec<RequestRecord>,
}

/// The server a path names: 400 for what is not one.
fn server_of(name: &str) -> Result<Server, ApiError> {
    name.parse()
        .map_err(|e: <Server as std::str::FromStr>::Err| {
            ApiError::new(StatusCode::BAD_REQUEST, e.to_string())
        })
}

async fn records(
    State(api): State<Api>,
    Path(server): Path<String>,
    Query(query): Query<RecordsQuery>,
) -> Result<Json<Records>, ApiError> {
    let server = server_of(&server)?;
    let limit = query.limit.unwrap_or(DEFAULT_RECORDS);
    if !(1..=MAX_RECORDS).contains(&limit) {
        let why = format!("the limit must be 1 to {MAX_RECORDS}");
        return Err(ApiError::new(StatusCode::BAD_REQUEST, why));
    }
    let records = api
        .query(move |store| store.newest_records(server, limit))
        .await?;
    Ok(Json(Records { records }))
}

impl Api {
    /// Carries out a control command on the servers; its answer's last line if it is an error.
    fn control(&self, command: ControlCommand) -> Result<(), ApiError> {
        let answer = command.execute(&mut **lock(&self.servers));
        match answer.lines().last().and_then(|l| l.strip_prefix("ERROR ")) {
            Some(why) => Err(ApiError::new(StatusCode::BAD_REQUEST, why)),
            None => Ok(()),
        }
    }

    fn faults_of_server(&self, server: Server) -> FaultSettings {
        let mut faults = crate::Faults::default();
        lock(&self.servers).with_server(server, &mut |s| faults = s.faults());
        FaultSettings::from(faults)
    }
}

async fn faults(
    State(api): State<Api>,
    Path(server): Path<String>,
) -> Result<Json<FaultSettings>, ApiError> {
    Ok(Json(api.faults_of_server(server_of(&server)?)))
}

/// Sets the faults given, leaving the others as they are; none is set if one is refused.
async fn set_faults(
    State(api): State<Api>,
    Path(server): Path<String>,
    Json(change): Json<FaultSettings>,
) -> Result<Json<FaultSettings>, ApiError> {
    let server = server_of(&server)?;
    let faults = change.faults()?;
    if let Some(refused) = faults.iter().find(|fault| !server.takes(**fault)) {
        let why = format!("{server} takes no {} faults", refused.kind());
        return Err(ApiError::new(StatusCode::BAD_REQUEST, why));
    }
    for fault in faults {
        api.control(ControlCommand::Set(server, fault))?;
    }
    Ok(Json(api.faults_of_server(server)))
}

async fn clear_faults(
    State(api): State<Api>,
    Path(server): Path<String>,
) -> Result<Json<FaultSettings>, ApiError> {
    let server = server_of(&server)?;
    api.control(ControlCommand::Clear(Some(server)))?;
    Ok(Json(api.faults_of_server(server)))
}
