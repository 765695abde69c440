//! `/__admin/connections`: the live MQTT sessions of devices, and dropping one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::app::AppState;

use super::envelope;

#[utoipa::path(get, path = "/__admin/connections", tag = "admin", summary = "Live MQTT device sessions",
    responses((status = 200, description = "The sessions: {id, productKey, deviceKey, assetId, clientId, certSN, authority, since}", body = Vec<Object>)))]
pub(crate) async fn list(State(state): State<AppState>) -> Response {
    envelope::json(StatusCode::OK, &state.mqtt.sessions())
}

#[utoipa::path(delete, path = "/__admin/connections/{id}", tag = "admin", summary = "Drop one live MQTT session",
    params(("id" = u64, Path, description = "The session id from GET /__admin/connections")),
    responses((status = 204, description = "Dropped"), (status = 404, description = "No such session", body = super::openapi::Message), (status = 400, description = "Not a number", body = super::openapi::Message)))]
/// Closes the session's socket (no DISCONNECT: MQTT 3.1.1 has none from the broker).
pub(crate) async fn drop_one(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(id) if state.mqtt.drop_session(id) => StatusCode::NO_CONTENT.into_response(),
        Ok(id) => envelope::message(
            StatusCode::NOT_FOUND,
            &format!("no live MQTT connection {id}"),
        ),
        Err(_) => envelope::message(
            StatusCode::BAD_REQUEST,
            &format!("connection id {id:?} is not a number"),
        ),
    }
}
