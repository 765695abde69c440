//! HTTP: the EnOS routes, the CA routes and the `/__admin` control plane.
//! Handlers translate between JSON and the service; the rules live below them.

mod admin;
mod auth;
mod ca;
mod certificates;
mod connections;
mod devices;
mod enos;
mod envelope;
mod guard;
mod journal;
mod openapi;
mod params;
mod products;
mod saved;
mod token;
mod ui;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef, Request};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, MethodRouter};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

use crate::app::faults::Faults;
use crate::app::App;
use crate::auth::Gateway;
use crate::clock::Clock;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::journal::{Field, Journal, Text};
use crate::service::Service;

// Sub-states: a handler takes only the part of the app state it uses.
impl FromRef<App> for Arc<Service> {
    fn from_ref(app: &App) -> Self {
        app.service.clone()
    }
}

impl FromRef<App> for Arc<Clock> {
    fn from_ref(app: &App) -> Self {
        app.clock.clone()
    }
}

impl FromRef<App> for Arc<Gateway> {
    fn from_ref(app: &App) -> Self {
        app.gateway.clone()
    }
}

impl FromRef<App> for Arc<Journal> {
    fn from_ref(app: &App) -> Self {
        app.journal.clone()
    }
}

impl FromRef<App> for Arc<Faults> {
    fn from_ref(app: &App) -> Self {
        app.faults.clone()
    }
}

/// An EnOS resource: documented by its handler's `#[utoipa::path]` (at v2.0), served at
/// v2.0 and v2.1 for every method (the handler answers methods it does not take).
fn enos_resource(
    (schemas, mut paths, _): UtoipaMethodRouter<App>,
    handler: MethodRouter<App>,
) -> UtoipaMethodRouter<App> {
    let v2_1: Vec<_> = paths
        .paths
        .iter()
        .map(|(path, item)| (path.replace("/v2.0/", "/v2.1/"), item.clone()))
        .collect();
    paths.paths.extend(v2_1);
    (schemas, paths, handler)
}

/// The EnOS business routes: the only ones behind the gateway (B10).
fn business(app: &App) -> OpenApiRouter<App> {
    OpenApiRouter::new()
        .routes(enos_resource(
            routes!(certificates::handle),
            any(certificates::handle),
        ))
        .routes(enos_resource(
            routes!(products::handle),
            any(products::handle),
        ))
        .routes(enos_resource(
            routes!(devices::handle),
            any(devices::handle),
        ))
        .route_layer(middleware::from_fn_with_state(app.clone(), auth::gateway))
}

/// Every route, each with its documentation (`#[utoipa::path]` on the handler): the
/// router and the OpenAPI document come out of the same declarations. The CA paths are
/// the ones `service::links` writes into certificates.
fn routes(app: &App) -> OpenApiRouter<App> {
    OpenApiRouter::with_openapi(openapi::frame())
        .merge(business(app))
        .routes(routes!(token::get))
        .routes(routes!(token::refresh))
        .routes(routes!(ca::rsa_cacert))
        .routes(routes!(ca::cacert_of))
        .routes(routes!(ca::rsa_crl))
        .routes(routes!(ca::crl_of))
        .routes(routes!(admin::health))
        .routes(routes!(admin::get_clock, admin::set_clock))
        .routes(routes!(admin::reset))
        .routes(routes!(admin::reload))
        .routes(routes!(admin::errors))
        .routes(routes!(admin::list_orgs, admin::create_org))
        .routes(routes!(
            admin::list_faults,
            admin::add_fault,
            admin::clear_faults
        ))
        .routes(routes!(admin::requests, admin::clear_requests))
        .routes(routes!(admin::bulk_devices))
        .routes(routes!(openapi::serve))
        .routes(routes!(ui::root))
        .routes(routes!(ui::page))
        .routes(routes!(ui::state))
        .routes(routes!(connections::list))
        .routes(routes!(connections::one, connections::drop_one))
        .routes(routes!(connections::publish))
}

/// Every route, with the layers every call passes.
///
/// The layers wrap the finished router once, as one service. Applied with
/// `Router::layer` they wrapped each route in a box of its own, and every call cloned that
/// chain: about 60 allocations per EnOS call (callgrind, bench/README.md).
pub fn router(app: App, body_limit: usize) -> Router {
    let guard = guard::GuardLayer::new(app.guard.clone());
    let journal = middleware::from_fn_with_state(app.clone(), journal::record);
    // Without --state there is nothing to wait for, and no layer.
    let saved = app
        .service
        .has_state_file()
        .then(|| middleware::from_fn_with_state(app.clone(), saved::wait));
    let (router, document) = routes(&app).split_for_parts();
    let routes = router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app);
    let layered = ServiceBuilder::new()
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(CatchPanicLayer::new())
        .layer(guard)
        .layer(journal)
        .option_layer(saved)
        .layer(middleware::from_fn(size_limit_message))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(DefaultBodyLimit::disable())
        .layer(Extension(openapi::Document::new(document)))
        .service(routes);
    Router::new().fallback_service(layered)
}

/// The span of one request (logged at debug): its method, path and query bounded as the
/// journal keeps them, so a 60 KB query never makes a 60 KB log line.
fn request_span(request: &Request) -> tracing::Span {
    let uri = request.uri();
    // tower-http's own target, so that `--log tower_http=debug` shows it as before.
    tracing::debug_span!(
        target: "tower_http::trace::make_span",
        "request",
        method = %Text::new(Field::Method, request.method().as_str()),
        path = %Text::new(Field::Path, uri.path()),
        query = %Text::new(Field::Query, uri.query().unwrap_or("")),
    )
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
