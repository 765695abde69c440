//! HTTP: the EnOS routes, the CA routes and the `/__admin` control plane.
//! Handlers translate between JSON and the service; the rules live below them.

mod admin;
mod auth;
mod ca;
mod certificates;
mod devices;
mod enos;
mod envelope;
mod journal;
mod openapi;
mod params;
mod products;
mod token;
mod ui;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

use crate::app::faults::Faults;
use crate::app::AppState;
use crate::auth::Gateway;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::journal::Journal;
use crate::service::Service;

// Sub-states: a handler takes only the part of the app state it uses.
impl FromRef<AppState> for Arc<Service> {
    fn from_ref(state: &AppState) -> Self {
        state.service.clone()
    }
}

impl FromRef<AppState> for Arc<Gateway> {
    fn from_ref(state: &AppState) -> Self {
        state.gateway.clone()
    }
}

impl FromRef<AppState> for Arc<Journal> {
    fn from_ref(state: &AppState) -> Self {
        state.journal.clone()
    }
}

impl FromRef<AppState> for Arc<Faults> {
    fn from_ref(state: &AppState) -> Self {
        state.faults.clone()
    }
}

/// The EnOS business routes: the only ones behind the gateway (B10).
fn business(state: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/connect-service/v2.0/certificates",
            any(certificates::handle),
        )
        .route(
            "/connect-service/v2.1/certificates",
            any(certificates::handle),
        )
        .route("/connect-service/v2.0/products", any(products::handle))
        .route("/connect-service/v2.1/products", any(products::handle))
        .route("/connect-service/v2.0/devices", any(devices::handle))
        .route("/connect-service/v2.1/devices", any(devices::handle))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::gateway))
}

/// Every route; the CA paths are the ones `service::links` writes into certificates.
pub fn router(state: AppState, body_limit: usize) -> Router {
    let journal = middleware::from_fn_with_state(state.clone(), journal::record);
    Router::new()
        .merge(business(&state))
        .route("/apim-token-service/v2.0/token/get", post(token::get))
        .route(
            "/apim-token-service/v2.0/token/refresh",
            post(token::refresh),
        )
        .route("/enos/CA/cacert", get(ca::rsa_cacert))
        .route("/enos/CA/cacert/{kind}", get(ca::cacert_of))
        .route("/enos/CA/crl", get(ca::rsa_crl))
        .route("/enos/CA/crl/{kind}", get(ca::crl_of))
        .route("/__admin/health", get(admin::health))
        .route(
            "/__admin/clock",
            get(admin::get_clock).post(admin::set_clock),
        )
        .route("/__admin/reset", post(admin::reset))
        .route("/__admin/reload", post(admin::reload))
        .route("/__admin/errors", get(admin::errors))
        .route(
            "/__admin/orgs",
            get(admin::list_orgs).post(admin::create_org),
        )
        .route(
            "/__admin/faults",
            get(admin::list_faults)
                .post(admin::add_fault)
                .delete(admin::clear_faults),
        )
        .route(
            "/__admin/requests",
            get(admin::requests).delete(admin::clear_requests),
        )
        .route("/__admin/bulk/devices", post(admin::bulk_devices))
        .route("/__admin/openapi.json", get(openapi::serve))
        .route("/", get(ui::root))
        .route("/__admin/ui", get(ui::page))
        .route("/__admin/state", get(ui::state))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(DefaultBodyLimit::disable())
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(middleware::from_fn(size_limit_message))
        .layer(journal)
        .layer(CatchPanicLayer::new())
        .layer(TraceLayer::new_for_http())
}

/// Unknown EnOS paths still answer in the EnOS envelope; others in `{"message"}`.
async fn not_found(method: Method, uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/connect-service/") {
        let e = EnosError::with(
            ErrorKey::RouteNotFound,
            &[("method", method.as_str()), ("path", path)],
        );
        envelope::enos_error(StatusCode::NOT_FOUND, &uuid_for_unrouted(), &e)
    } else {
        envelope::message(
            StatusCode::NOT_FOUND,
            &format!("no route for {method} {path}"),
        )
    }
}

/// Unrouted calls draw no identifier from the (possibly seeded) generator.
fn uuid_for_unrouted() -> String {
    crate::domain::ids::Ids::new(None).uuid()
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    envelope::message(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{method} is not allowed on {}", uri.path()),
    )
}

/// The gateway's answer to an oversized body, whichever layer noticed it.
async fn size_limit_message(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE {
        envelope::message(StatusCode::PAYLOAD_TOO_LARGE, "Request size limit exceeded")
    } else {
        response
    }
}
