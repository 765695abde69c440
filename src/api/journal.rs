//! Records EnOS, token-service and CA calls in the request journal.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::AppState;
use crate::journal::Entry;

use super::envelope::{AnswerAction, AnswerCode};
use super::params::Query;

/// Paths whose calls are journaled; the control plane never is.
const JOURNALED: [&str; 3] = ["/connect-service/", "/apim-token-service/", "/enos/CA"];

pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if state.journal.capacity() == 0 || !JOURNALED.iter().any(|p| path.starts_with(p)) {
        return next.run(request).await;
    }
    let path = path.to_string();
    let method = request.method().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let time_ms = state.service.clock.now_ms();
    let started = Instant::now();
    let response = next.run(request).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let action = match response.extensions().get::<AnswerAction>() {
        Some(a) => Some(a.0.to_string()),
        None => Query::parse(Some(&query))
            .non_empty("action")
            .map(str::to_string),
    };
    state.journal.record(Entry {
        time_ms,
        method,
        path,
        query,
        action,
        status: response.status().as_u16(),
        code: response.extensions().get::<AnswerCode>().map(|c| c.0),
        latency_ms,
        mqtt: None,
    });
    response
}
