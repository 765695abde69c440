//! The dashboard: one embedded page at `/__admin/ui` (also where `/` leads) and
//! the state it draws, `GET /__admin/state?filter=&offset=&limit=`.

use axum::extract::{RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::app::state_view::{StateQuery, StateView};
use crate::app::App;

use super::envelope;
use super::params::Query;

/// Inline CSS and JS, nothing fetched: it works air-gapped.
const PAGE: &str = include_str!("ui/index.html");

/// Devices per page when the call does not say.
const DEFAULT_LIMIT: usize = 50;

#[utoipa::path(get, path = "/__admin/ui", tag = "admin", summary = "The dashboard: one self-contained page",
    responses((status = 200, description = "The page", body = String, content_type = "text/html")))]
pub(crate) async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        PAGE,
    )
        .into_response()
}

#[utoipa::path(get, path = "/", tag = "admin", summary = "Leads to the dashboard",
    responses((status = 307, description = "Redirect to /__admin/ui")))]
pub(crate) async fn root() -> Redirect {
    Redirect::temporary("/__admin/ui")
}

#[utoipa::path(get, path = "/__admin/state", tag = "admin", summary = "What the dashboard draws: orgs, products, devices, certificates on the mock clock, roots and CRL entries",
    params(("filter" = Option<String>, Query, description = "Text to match"), ("offset" = Option<usize>, Query, description = "Devices to skip"), ("limit" = Option<usize>, Query, description = "Devices per page, at most 500 (default 50)")),
    responses((status = 200, description = "The state", body = Object), (status = 400, description = "Bad offset or limit", body = super::envelope::Message)))]
pub(crate) async fn state(State(app): State<App>, RawQuery(raw): RawQuery) -> Response {
    let query = Query::parse(raw.as_deref());
    let number = |name: &str, default: usize| match query.non_empty(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| format!("{name} must be a non-negative integer")),
    };
    let (offset, limit) = match (number("offset", 0), number("limit", DEFAULT_LIMIT)) {
        (Ok(offset), Ok(limit)) => (offset, limit),
        (Err(message), _) | (_, Err(message)) => {
            return envelope::message(StatusCode::BAD_REQUEST, &message)
        }
    };
    let query = StateQuery {
        filter: query.get("filter").unwrap_or("").to_string(),
        offset,
        limit,
    };
    envelope::json(StatusCode::OK, &StateView::of(&app, &query))
}
