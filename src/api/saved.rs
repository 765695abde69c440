//! With `--state`, no answer leaves before the changes made so far are in the file
//! (group commit: one wait covers every call answered in the same group).

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

use super::envelope::{self, AnswerAction};
use crate::app::App;
use crate::domain::errors::EnosError;

pub async fn wait(State(app): State<App>, request: Request, next: Next) -> Response {
    let enos = request.uri().path().starts_with("/connect-service/");
    let response = next.run(request).await;
    match app.service.saved().await {
        Ok(()) => response,
        // The change is in memory but not in the file: the client must not believe it kept.
        Err(e) if enos => {
            tracing::error!("{e}");
            let action = response.extensions().get::<AnswerAction>().copied();
            let error = EnosError::internal(action.as_ref().map(|a| a.0));
            let mut failed = envelope::error(&app.service.request_id(), &error);
            // The journal records the call under its action, as any other answer.
            if let Some(action) = action {
                failed.extensions_mut().insert(action);
            }
            failed
        }
        Err(e) => envelope::message(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
