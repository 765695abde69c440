//! Records EnOS, token-service and CA calls in the request journal.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::app::App;
use crate::journal::{Field, JournalEntry, Text};

use super::envelope::{AnswerAction, AnswerCode};
use super::params::Query;

/// Paths whose calls are journaled; the control plane never is.
const JOURNALED: [&str; 3] = ["/connect-service/", "/apim-token-service/", "/enos/CA"];

pub(crate) async fn record(State(app): State<App>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if app.journal.capacity() == 0 || !JOURNALED.iter().any(|p| path.starts_with(p)) {
        return next.run(request).await;
    }
    // A clone of the URI shares its bytes; only what the entry keeps is copied.
    let uri = request.uri().clone();
    let method = Text::new(Field::Method, request.method().as_str());
    let time_ms = app.clock.now_ms();
    let started = Instant::now();
    let response = next.run(request).await;
    let latency_ms = (started.elapsed().as_secs_f64() * 1e6).round() / 1e3;
    let query = uri.query().unwrap_or("");
    let action = match response.extensions().get::<AnswerAction>() {
        Some(a) => Some(Text::new(Field::Action, a.0)),
        None => Query::parse(Some(query))
            .non_empty("action")
            .map(|a| Text::new(Field::Action, a)),
    };
    app.journal.record(JournalEntry {
        time_ms,
        method,
        path: Text::new(Field::Path, uri.path()),
        query: Text::new(Field::Query, query),
        action,
        status: response.status().as_u16(),
        code: response.extensions().get::<AnswerCode>().map(|c| c.0),
        latency_ms,
        mqtt: None,
    });
    response
}
