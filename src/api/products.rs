//! `/connect-service/{v2.0|v2.1}/products`: create, get, update, delete (A8).

use axum::response::Response;

use crate::domain::actions::{ProductAction, RecordAction};
use crate::domain::errors::EnosError;
use crate::domain::model::{DataFormat, ProductType};
use crate::domain::registry::ProductPatch;
use crate::service::NewProduct;

use super::enos::{Call, EnosRequest};
use super::envelope;
use super::params::{required, Body, Query};
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

/// Every action but create names its product, before the body is read.
fn key_and_body(call: &Call<ProductAction>) -> Result<(String, Body), EnosError> {
    let key = product_key(&call.query)?;
    Ok((key, Body::parse(&call.body)?))
}

async fn dispatch(call: Call<ProductAction>) -> Result<Response, EnosError> {
    let (service, request_id, caller) = (&call.app.service, &call.request_id, &call.caller);
    match call.action.0 {
        RecordAction::Create => {
            let body = Body::parse(&call.body)?;
            let product_key = service.create_product(caller, new_product(&body)?)?;
            Ok(envelope::ok(request_id, Some(product_key)))
        }
        RecordAction::Get => {
            let (key, _) = key_and_body(&call)?;
            let found = service.get_product(caller, &key)?;
            Ok(envelope::ok(request_id, Some(found)))
        }
        RecordAction::Update => {
            let (key, body) = key_and_body(&call)?;
            let patch = patch(&body)?;
            service.update_product(caller, &key, &patch)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        RecordAction::Delete => {
            let (key, _) = key_and_body(&call)?;
            service.delete_product(caller, &key)?;
            Ok(envelope::ok::<()>(request_id, None))
        }
    }
}

/// Create, get, update or delete a product.
#[utoipa::path(
    method(get, post),
    path = "/connect-service/v2.0/products",
    tag = "enos",
    params(super::openapi::ProductQuery),
    request_body(content = Option<super::openapi::ProductBody>, content_type = "application/json"),
    responses(super::openapi::EnosAnswers),
    security(("apim_accesstoken" = []))
)]
pub(crate) async fn handle(request: EnosRequest) -> Response {
    request.answer(dispatch).await
}
