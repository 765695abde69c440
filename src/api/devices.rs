//! `/connect-service/{v2.0|v2.1}/devices`: create, get, update, delete (A8).

use axum::response::Response;
use serde::Serialize;

use crate::domain::actions::{DeviceAction, RecordAction};
use crate::domain::errors::EnosError;
use crate::domain::model::DeviceId;
use crate::domain::registry::DevicePatch;
use crate::service::NewDevice;

use super::enos::{self, Call, EnosRequest};
use super::envelope;
use super::params::{required, Body};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Created<'a> {
    asset_id: &'a str,
    product_key: &'a str,
    device_key: &'a str,
    device_secret: &'a str,
}

fn new_device(body: &Body) -> Result<NewDevice, EnosError> {
    Ok(NewDevice {
        product_key: required(
            body.string("productKey")?.filter(|s| !s.is_empty()),
            "productKey",
        )?,
        device_name: required(body.i18n("deviceName")?, "deviceName")?,
        timezone: required(body.string("timezone")?, "timezone")?,
        device_key: body.string("deviceKey")?.filter(|s| !s.is_empty()),
        device_desc: body.string("deviceDesc")?,
        device_attributes: body.object("deviceAttributes")?.unwrap_or_default(),
        device_tags: body.string_map("deviceTags")?.unwrap_or_default(),
    })
}

fn patch(body: &Body) -> Result<DevicePatch, EnosError> {
    Ok(DevicePatch {
        device_name: body.i18n("deviceName")?,
        device_desc: body.string("deviceDesc")?,
        timezone: body.string("timezone")?,
        device_attributes: body.object("deviceAttributes")?,
        device_tags: body.string_map("deviceTags")?,
    })
}

/// Every action but create names its device, before the body is read.
fn device_and_body(call: &Call<DeviceAction>) -> Result<(DeviceId, Body), EnosError> {
    let device = enos::device_id(&call.query)?;
    Ok((device, Body::parse(&call.body)?))
}

async fn dispatch(call: Call<DeviceAction>) -> Result<Response, EnosError> {
    let (service, request_id, caller) = (&call.app.service, &call.request_id, &call.caller);
    match call.action.0 {
        RecordAction::Create => {
            let body = Body::parse(&call.body)?;
            let d = service.create_device(caller, new_device(&body)?)?;
            let created = Created {
                asset_id: &d.asset_id,
                product_key: &d.product_key,
                device_key: &d.device_key,
                device_secret: &d.device_secret,
            };
            Ok(envelope::ok(request_id, Some(created)))
        }
        RecordAction::Get => {
            let (device, _) = device_and_body(&call)?;
            let found = service.get_device(caller, &device)?;
            Ok(envelope::ok(request_id, Some(found)))
        }
        RecordAction::Update => {
            let (device, body) = device_and_body(&call)?;
            let patch = patch(&body)?;
            service.update_device(caller, &device, &patch)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        RecordAction::Delete => {
            let (device, _) = device_and_body(&call)?;
            service.delete_device(caller, &device).await?;
            Ok(envelope::ok::<()>(request_id, None))
        }
    }
}

/// Create, get, update or delete a device.
#[utoipa::path(
    method(get, post),
    path = "/connect-service/v2.0/devices",
    tag = "enos",
    params(super::openapi::DeviceQuery),
    request_body(content = Option<super::openapi::DeviceBody>, content_type = "application/json"),
    responses(super::openapi::EnosAnswers),
    security(("apim_accesstoken" = []))
)]
pub(crate) async fn handle(request: EnosRequest) -> Response {
    request.answer(dispatch).await
}
