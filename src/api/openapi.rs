//! The OpenAPI document served at `GET /__admin/openapi.json`. It is not written here:
//! `api/mod.rs` mounts every route through utoipa-axum's `routes!`, which reads the
//! `#[utoipa::path]` on the handler it routes, so a route cannot be served undocumented
//! (or documented unserved). This file holds the document's frame and the shapes that
//! the handlers read or write by hand (the EnOS query parameters and bodies, the envelope).

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::Value;
use utoipa::openapi::path::Operation;
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::envelope;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "enos-cert-mock",
        description = "A mock of the EnOS certificate service: the EnOS Connection Service certificate, product and device APIs (behind the gateway: apim-accesstoken, optionally apim-timestamp and apim-signature), the token service, the CA endpoints, and the /__admin control plane."
    ),
    components(schemas(Envelope, Message)),
    modifiers(&Gateway)
)]
struct Frame;

/// The gateway's credentials, named by the EnOS business routes' `security`. Only the
/// token is a scheme: `apim-timestamp` and `apim-signature` sign one call, which no
/// fixed credential can express (docs/authentication.md).
struct Gateway;

/// The name the business routes' `security(("apim_accesstoken" = []))` refers to.
const GATEWAY_TOKEN: &str = "apim_accesstoken";

impl utoipa::Modify for Gateway {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        let token = ApiKeyValue::with_description(
            "apim-accesstoken",
            "A token from the token service, or a Poseidon SDK token; lenient mode takes any non-empty one",
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(GATEWAY_TOKEN, SecurityScheme::ApiKey(ApiKey::Header(token)));
    }
}

/// The frame every route's documentation is added to.
pub(crate) fn frame() -> utoipa::openapi::OpenApi {
    Frame::openapi()
}

/// The served document, made once from the router's declarations.
#[derive(Clone)]
pub(crate) struct Document(Arc<Value>);

impl Document {
    /// The finished document: every operation gets a unique id (`get /__admin/clock`
    /// becomes `get__admin_clock`; the EnOS handlers serve two versions each).
    pub(crate) fn new(mut openapi: utoipa::openapi::OpenApi) -> Document {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let name: String = path
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect();
            let operations: [(&str, &mut Option<Operation>); 4] = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("delete", &mut item.delete),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    operation.operation_id = Some(format!("{method}{name}"));
                    guard_answers(path, operation);
                }
            }
        }
        let value = serde_json::to_value(&openapi).unwrap_or(Value::Null);
        Document(Arc::new(value))
    }

    pub(crate) fn value(&self) -> &Value {
        &self.0
    }
}

/// What the guard (`api/guard.rs`) answers, on the operations it can refuse: 403 on any
/// route but the CA's (a `Host` the mock does not answer; on `/__admin` also a browser's
/// cross-origin write), 401 on `/__admin` with `--admin-token` (not on the static page).
fn guard_answers(path: &str, operation: &mut Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let message = |description: &str| {
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("Message")))
            .build();
        ResponseBuilder::new()
            .description(description)
            .content("application/json", content)
            .build()
    };
    let responses = &mut operation.responses.responses;
    if path.starts_with("/enos/CA") {
        return;
    }
    let forbidden = if path.starts_with("/__admin") {
        "A Host this mock does not answer (a loopback bind, --allowed-hosts), or a browser's cross-origin write"
    } else {
        "A Host this mock does not answer (a loopback bind, --allowed-hosts)"
    };
    responses.insert("403".into(), message(forbidden).into());
    if path.starts_with("/__admin") && path != "/__admin/ui" {
        let description = if path == "/__admin/health" {
            "With --admin-token: a wrong token (without one, the answer leaves out secrets)"
        } else {
            "With --admin-token: the token (Authorization: Bearer) is missing or wrong"
        };
        responses.insert("401".into(), message(description).into());
    }
}

/// This document.
#[utoipa::path(get, path = "/__admin/openapi.json", tag = "admin",
    responses((status = 200, description = "This OpenAPI document", body = Object)))]
pub(crate) async fn serve(Extension(document): Extension<Document>) -> Response {
    envelope::json(StatusCode::OK, document.value())
}

/// The EnOS envelope. Business errors answer 200 too, with a non-zero `code`.
#[derive(ToSchema)]
#[allow(dead_code)]
#[schema(rename_all = "camelCase")]
pub(crate) struct Envelope {
    code: i64,
    msg: String,
    request_id: String,
    #[schema(value_type = Option<Value>)]
    data: Option<Value>,
}

/// A binary (DER) answer.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
#[allow(dead_code)]
pub(crate) struct Der(Vec<u8>);

/// The plain answer of the gateway, the CA endpoints and the control plane.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Message {
    message: String,
}

/// The `format` of the CRL endpoints.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum CrlFormat {
    Der,
    Pem,
}

/// A root: `issueAuthority` (the server takes any case).
#[derive(ToSchema)]
#[allow(dead_code, clippy::upper_case_acronyms)]
pub(crate) enum AuthorityName {
    RSA,
    ECC,
}

/// The actions of `/certificates`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum CertificateAction {
    Apply,
    Renew,
    Revoke,
    List,
}

/// The actions of `/products` and `/devices`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub(crate) enum RecordAction {
    Create,
    Get,
    Update,
    Delete,
}

/// The query of `/certificates` and `/devices`: the org and one device.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct DeviceQuery {
    /// The organization.
    org_id: String,
    /// The device (or productKey + deviceKey).
    asset_id: Option<String>,
    /// With deviceKey, names the device.
    product_key: Option<String>,
    /// With productKey, names the device.
    device_key: Option<String>,
}

/// The query of `/products`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ProductQuery {
    /// The organization.
    org_id: String,
    /// The product (get, update, delete).
    product_key: Option<String>,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct CertificateActionQuery {
    #[param(inline)]
    action: CertificateAction,
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct RecordActionQuery {
    #[param(inline)]
    action: RecordAction,
}

/// The body of the certificate actions (each reads its own fields).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct CertificateBody {
    csr: Option<String>,
    valid_day: Option<i64>,
    #[schema(value_type = Option<String>)]
    issue_authority: Option<String>,
    cert_sn: Option<i64>,
    /// An integer reason code, or its name.
    #[schema(value_type = Option<Value>)]
    reason: Option<Value>,
}

/// A name with translations.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct StringI18n {
    default_value: Option<String>,
    #[schema(value_type = Option<Object>)]
    i18n_value: Option<Value>,
}

/// The body of the product actions.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct ProductBody {
    product_name: Option<StringI18n>,
    /// Device or Gateway.
    product_type: Option<String>,
    /// Custom or Json.
    data_format: Option<String>,
    model_id: Option<String>,
    bi_directional_auth: Option<bool>,
    product_desc: Option<String>,
    dynamic_activate_enabled: Option<bool>,
    #[schema(value_type = Option<Object>)]
    product_tags: Option<Value>,
    default_valid_day: Option<i64>,
    max_valid_day: Option<i64>,
}

/// The body of the device actions.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct DeviceBody {
    product_key: Option<String>,
    device_name: Option<StringI18n>,
    timezone: Option<String>,
    device_key: Option<String>,
    device_desc: Option<String>,
    #[schema(value_type = Option<Object>)]
    device_attributes: Option<Value>,
    #[schema(value_type = Option<Object>)]
    device_tags: Option<Value>,
}

/// The token service's body (`accessToken` for a refresh).
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub(crate) struct TokenBody {
    app_key: Option<String>,
    /// sha256(appKey + timestamp + appSecret), hex.
    encryption: Option<String>,
    /// Milliseconds, as a number or a string.
    #[schema(value_type = Option<Value>)]
    timestamp: Option<Value>,
    access_token: Option<String>,
}

/// The token service's answer: always HTTP 200, the outcome in `status`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct TokenReply {
    status: i64,
    msg: String,
    business: String,
    /// `{accessToken, expire}` on success.
    #[schema(value_type = Option<Object>)]
    data: Option<Value>,
}

/// What every EnOS business route answers, documented once for the three resources.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the handlers answer with `Response`
pub(crate) enum EnosAnswers {
    /// The EnOS envelope; business errors answer 200 with a non-zero code.
    #[response(status = 200, content_type = "application/json")]
    Envelope(Envelope),
    /// The body could not be read.
    #[response(status = 400)]
    BadBody(Message),
    /// The gateway refused the credentials.
    #[response(status = 401)]
    Unauthorized(Message),
    /// Request size limit exceeded.
    #[response(status = 413)]
    TooLarge(Message),
}
