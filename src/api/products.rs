//! `/connect-service/{v2.0|v2.1}/products`: create, get, update, delete (A8).

use axum::response::Response;

use crate::domain::errors::{
    EnosError, PRODUCT_CREATE, PRODUCT_DELETE, PRODUCT_GET, PRODUCT_UPDATE,
};
use crate::domain::model::{DataFormat, ProductType};
use crate::domain::registry::ProductPatch;
use crate::service::NewProduct;

use super::enos::{Actions, Call, EnosRequest};
use super::envelope;
use super::params::{required, Body, Query};

const ACTIONS: Actions = &[
    ("create", PRODUCT_CREATE),
    ("get", PRODUCT_GET),
    ("update", PRODUCT_UPDATE),
    ("delete", PRODUCT_DELETE),
];
const TYPES: &str = "Device, Gateway";
const FORMATS: &str = "Custom, Json";

fn product_key(query: &Query) -> Result<String, EnosError> {
    required(
        query.non_empty("productKey").map(str::to_string),
        "productKey",
    )
}

fn new_product(body: &Body) -> Result<NewProduct, EnosError> {
    Ok(NewProduct {
        product_name: required(body.i18n("productName")?, "productName")?,
        product_type: required(
            body.one_of::<ProductType>("productType", TYPES)?,
            "productType",
        )?,
        data_format: required(
            body.one_of::<DataFormat>("dataFormat", FORMATS)?,
            "dataFormat",
        )?,
        model_id: required(body.string("modelId")?, "modelId")?,
        bi_directional_auth: required(body.boolean("biDirectionalAuth")?, "biDirectionalAuth")?,
        product_desc: body.string("productDesc")?,
        dynamic_activate_enabled: body.boolean("dynamicActivateEnabled")?.unwrap_or(false),
        product_tags: body.string_map("productTags")?.unwrap_or_default(),
        default_valid_day: body.days("defaultValidDay")?,
        max_valid_day: body.days("maxValidDay")?,
    })
}

fn patch(body: &Body) -> Result<ProductPatch, EnosError> {
    Ok(ProductPatch {
        product_name: body.i18n("productName")?,
        product_desc: body.string("productDesc")?,
        product_type: body.one_of("productType", TYPES)?,
        data_format: body.one_of("dataFormat", FORMATS)?,
        model_id: body.string("modelId")?,
        bi_directional_auth: body.boolean("biDirectionalAuth")?,
        dynamic_activate_enabled: body.boolean("dynamicActivateEnabled")?,
        product_tags: body.string_map("productTags")?,
        default_valid_day: body.days("defaultValidDay")?,
        max_valid_day: body.days("maxValidDay")?,
    })
}

async fn dispatch(call: Call) -> Result<Response, EnosError> {
    let (service, query, request_id, org_id) =
        (&call.service, &call.query, &call.request_id, &call.org_id);
    let (action, caller) = (call.action, call.caller_org());
    let key = if action == PRODUCT_CREATE {
        None
    } else {
        Some(product_key(query)?)
    };
    let body = Body::parse(&call.body)?;
    let key = key.as_deref().unwrap_or_default();
    match action {
        PRODUCT_CREATE => {
            let new = new_product(&body)?;
            let product_key = service.create_product(org_id, caller, new)?;
            Ok(envelope::ok(request_id, Some(product_key)))
        }
        PRODUCT_GET => Ok(envelope::ok(
            request_id,
            Some(service.get_product(org_id, caller, key)?),
        )),
        PRODUCT_UPDATE => {
            let patch = patch(&body)?;
            service.update_product(org_id, caller, key, &patch)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        _ => {
            service.delete_product(org_id, caller, key)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
    }
}

pub async fn handle(request: EnosRequest) -> Response {
    request.answer(ACTIONS, &[PRODUCT_GET], dispatch).await
}
