//! `/__admin/connections`: the live device sessions, one in detail, dropping one; and
//! `/__admin/mqtt/publish`: a test's command to a device, and its reply.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::app::conversation::{Command, CommandError, MAX_REPLY_TIMEOUT_MS};
use crate::app::sessions::{RecentMessage, SessionInfo};
use crate::app::App;
use crate::domain::model::{DeviceId, DeviceNames};

use super::admin::{AdminError, AdminJson};
use super::envelope;

#[utoipa::path(get, path = "/__admin/connections", tag = "admin", summary = "Live MQTT device sessions",
    responses((status = 200, description = "The sessions: {id, productKey, deviceKey, assetId, clientId, certSN, authority, since, transport}", body = Vec<Object>)))]
pub(crate) async fn list(State(app): State<App>) -> Response {
    envelope::json(StatusCode::OK, &app.sessions.list())
}

/// One session in detail, as the dashboard shows it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionDetail {
    #[serde(flatten)]
    info: SessionInfo,
    subscriptions: Vec<String>,
    /// Sub-devices logged in through it (a gateway's).
    sub_devices: Vec<DeviceNamesView>,
    /// The newest messages, oldest first.
    recent: Vec<RecentMessage>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeviceNamesView {
    asset_id: String,
    product_key: String,
    device_key: String,
}

impl From<DeviceNames> for DeviceNamesView {
    fn from(d: DeviceNames) -> Self {
        DeviceNamesView {
            asset_id: d.asset_id,
            product_key: d.product_key,
            device_key: d.device_key,
        }
    }
}

fn not_a_number(id: &str) -> Response {
    envelope::message(
        StatusCode::BAD_REQUEST,
        &format!("connection id {id:?} is not a number"),
    )
}

fn no_session(id: u64) -> Response {
    envelope::message(
        StatusCode::NOT_FOUND,
        &format!("no live MQTT connection {id}"),
    )
}

#[utoipa::path(get, path = "/__admin/connections/{id}", tag = "admin", summary = "One live MQTT session: subscriptions, sub-devices logged in through it, recent messages",
    params(("id" = u64, Path, description = "The session id from GET /__admin/connections")),
    responses((status = 200, description = "The session", body = Object), (status = 404, description = "No such session", body = super::envelope::Message), (status = 400, description = "Not a number", body = super::envelope::Message)))]
pub(crate) async fn one(State(app): State<App>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return not_a_number(&id);
    };
    let Some(session) = app.sessions.get(id) else {
        return no_session(id);
    };
    let detail = SessionDetail {
        info: session.info.clone(),
        subscriptions: session.subscriptions(),
        sub_devices: app
            .service
            .logged_in_through(id)
            .into_iter()
            .map(DeviceNamesView::from)
            .collect(),
        recent: session.recent(),
    };
    envelope::json(StatusCode::OK, &detail)
}

#[utoipa::path(delete, path = "/__admin/connections/{id}", tag = "admin", summary = "Drop one live MQTT session",
    params(("id" = u64, Path, description = "The session id from GET /__admin/connections")),
    responses((status = 204, description = "Dropped"), (status = 404, description = "No such session", body = super::envelope::Message), (status = 400, description = "Not a number", body = super::envelope::Message)))]
/// Closes the session's socket (no DISCONNECT: MQTT 3.1.1 has none from the broker).
pub(crate) async fn drop_one(State(app): State<App>, Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(n) if app.sessions.drop_session(n, "dropped by the control plane") => {
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(n) => no_session(n),
        Err(_) => not_a_number(&id),
    }
}

/// `POST /__admin/mqtt/publish`, as sent.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct PublishBody {
    /// The device, by assetId (which wins) ...
    asset_id: Option<String>,
    /// ... or by productKey and deviceKey.
    product_key: Option<String>,
    device_key: Option<String>,
    /// A topic of that device: `/sys/{pk}/{dk}/...` or `/ext/session/{pk}/{dk}/...`.
    topic: String,
    /// Sent as its JSON text; a string is sent as is.
    #[schema(value_type = Object)]
    payload: Value,
    /// 0 or 1 (default 1).
    #[schema(minimum = 0, maximum = 1)]
    qos: Option<u8>,
    /// Wait this long for the device's `{topic}_reply` with the payload's `id` (0–60000,
    /// default 0: do not wait).
    #[schema(minimum = 0, maximum = 60000)]
    reply_timeout_ms: Option<u64>,
}

/// The device's reply.
#[derive(Serialize, ToSchema)]
pub(crate) struct ReplyView {
    topic: String,
    /// The reply's JSON, or its text when it is not JSON.
    #[schema(value_type = Object)]
    payload: Value,
}

/// The answer to a command.
#[derive(Serialize, ToSchema)]
pub(crate) struct Published {
    /// Live sessions it was sent to.
    sessions: usize,
    /// `null` when no reply was waited for or none came in time.
    reply: Option<ReplyView>,
}

fn device_of(body: &PublishBody) -> Result<DeviceId, AdminError> {
    let given = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    match (
        given(&body.asset_id),
        given(&body.product_key),
        given(&body.device_key),
    ) {
        (Some(asset_id), _, _) => Ok(DeviceId::AssetId(asset_id)),
        (None, Some(product_key), Some(device_key)) => Ok(DeviceId::Keys {
            product_key,
            device_key,
        }),
        _ => Err(AdminError::BadRequest(
            "name the device: assetId, or productKey with deviceKey".into(),
        )),
    }
}

#[utoipa::path(post, path = "/__admin/mqtt/publish", tag = "admin", summary = "Send a device a message on one of its topics (a command), optionally waiting for its reply",
    request_body(content = PublishBody, content_type = "application/json"),
    responses((status = 200, description = "Sent", body = Published), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message),
        (status = 404, description = "No such device", body = super::envelope::Message), (status = 409, description = "The device has no live session", body = super::envelope::Message)))]
pub(crate) async fn publish(
    State(app): State<App>,
    AdminJson(body): AdminJson<PublishBody>,
) -> Response {
    let device = match device_of(&body) {
        Ok(device) => device,
        Err(e) => return e.into_response(),
    };
    if body
        .reply_timeout_ms
        .is_some_and(|t| t > MAX_REPLY_TIMEOUT_MS)
    {
        return AdminError::BadRequest(CommandError::Timeout.to_string()).into_response();
    }
    let payload = match body.payload {
        Value::String(text) => text.into_bytes(),
        other => other.to_string().into_bytes(),
    };
    let command = Command {
        device,
        topic: body.topic,
        payload,
        qos: body.qos.unwrap_or(1),
        reply_timeout: Duration::from_millis(body.reply_timeout_ms.unwrap_or(0)),
    };
    match app.command(command).await {
        Ok(outcome) => {
            let reply = outcome.reply.map(|(topic, payload)| ReplyView {
                topic,
                payload: serde_json::from_slice(&payload)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&payload).into())),
            });
            envelope::json(
                StatusCode::OK,
                &Published {
                    sessions: outcome.sessions,
                    reply,
                },
            )
        }
        Err(e) => {
            let status = match e {
                CommandError::UnknownDevice(_) => StatusCode::NOT_FOUND,
                CommandError::NotConnected(_) => StatusCode::CONFLICT,
                CommandError::ForeignTopic { .. } | CommandError::Qos | CommandError::Timeout => {
                    StatusCode::BAD_REQUEST
                }
            };
            envelope::message(status, &e.to_string())
        }
    }
}
