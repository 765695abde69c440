//! `/connect-service/{v2.0|v2.1}/devices`: create, get, update, delete (A8).

use axum::response::Response;
use serde::Serialize;

use crate::domain::errors::{EnosError, DEVICE_CREATE, DEVICE_DELETE, DEVICE_GET, DEVICE_UPDATE};
use crate::domain::registry::DevicePatch;
use crate::service::NewDevice;

use super::enos::{self, Actions, Call, EnosRequest};
use super::envelope;
use super::params::{required, Body};

const ACTIONS: Actions = &[
    ("create", DEVICE_CREATE),
    ("get", DEVICE_GET),
    ("update", DEVICE_UPDATE),
    ("delete", DEVICE_DELETE),
];

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

async fn dispatch(call: Call) -> Result<Response, EnosError> {
    let (service, query, request_id, org_id) =
        (&call.service, &call.query, &call.request_id, &call.org_id);
    let (action, caller) = (call.action, call.caller_org());
    if action == DEVICE_CREATE {
        let body = Body::parse(&call.body)?;
        let d = service.create_device(org_id, caller, new_device(&body)?)?;
        let created = Created {
            asset_id: &d.asset_id,
            product_key: &d.product_key,
            device_key: &d.device_key,
            device_secret: &d.device_secret,
        };
        return Ok(envelope::ok(request_id, Some(created)));
    }
    let device = enos::device_ref(query)?;
    let body = Body::parse(&call.body)?;
    match action {
        DEVICE_GET => Ok(envelope::ok(
            request_id,
            Some(service.get_device(org_id, caller, &device)?),
        )),
        DEVICE_UPDATE => {
            let patch = patch(&body)?;
            service.update_device(org_id, caller, &device, &patch)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        _ => {
            service.delete_device(org_id, caller, &device).await?;
            Ok(envelope::ok::<()>(request_id, None))
        }
    }
}

pub async fn handle(request: EnosRequest) -> Response {
    request.answer(ACTIONS, &[DEVICE_GET], dispatch).await
}
