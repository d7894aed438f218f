//! The web console (docs/console.md): the platforms as a person sees them in a browser, served by
//! the API at `/console` on the API's address, with the API's token.
//!
//! One HTML page, one script and one style sheet, all in the binary (`include_str!`): no build
//! step, no network needed to show them (docs/decisions.md, "The web console"). The page's script
//! reads and changes everything through the JSON API (docs/api.md), logged in by a session cookie
//! ([`session`]), and follows what the writers commit through `GET /api/events` ([`events`]),
//! so that its lists change as the devices talk, without a reload.
//!
//! Named `web` so as not to be taken for [`crate::Console`], the lines the servers print.

pub mod events;
pub mod session;

use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use axum::Router;

/// Where the console is, on the API's address.
pub const PATH: &str = "/console";

const PAGE: &str = include_str!("assets/console.html");
const SCRIPT: &str = include_str!("assets/console.js");
const STYLE: &str = include_str!("assets/console.css");

/// Only what the console itself serves may run or be shown: no inline script, nothing from
/// elsewhere.
const POLICY: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                      base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The console's files; they hold no secret, so they are served without the token (the page asks
/// for it).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(|| async { Redirect::to(PATH) }))
        .route(PATH, get(|| asset("text/html; charset=utf-8", PAGE)))
        .route(
            "/console/console.js",
            get(|| asset("text/javascript; charset=utf-8", SCRIPT)),
        )
        .route(
            "/console/console.css",
            get(|| asset("text/css; charset=utf-8", STYLE)),
        )
}

/// One of the console's files, never cached (a new binary serves a new script).
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, content_type),
            (CACHE_CONTROL, "no-store"),
            (CONTENT_SECURITY_POLICY, POLICY),
        ],
        body,
    )
}
