//! The OpenAPI document served at `GET /__admin/openapi.json`. It is not written here:
//! `api/mod.rs` mounts every route through utoipa-axum's `routes!`, which reads the
//! `#[utoipa::path]` on the handler it routes, so a route cannot be served undocumented
//! (or documented unserved). Answers are described by the types that are serialised
//! (`envelope::Envelope`, `envelope::Message`, `token::TokenReply`, ...); this file holds
//! the document's frame and the shapes of what the handlers read by hand (the EnOS query
//! parameters and bodies), as tables.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::Value;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{KnownFormat, Schema, SchemaFormat, SchemaType, Type};
use utoipa::openapi::{
    ContentBuilder, Object, ObjectBuilder, Ref, RefOr, Required, ResponseBuilder,
};
use utoipa::{IntoParams, IntoResponses, OpenApi, PartialSchema, ToSchema};

use super::envelope::{self, Envelope, Message};
use crate::domain::actions::{CertAction, DeviceAction, ProductAction, ResourceAction};
use crate::domain::model::Authority;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "enos-cert-mock",
        description = "A mock of the EnOS certificate service: the EnOS Connection Service certificate, product and device APIs (behind the gateway: apim-accesstoken, optionally apim-timestamp and apim-signature), the token service, the CA endpoints, and the /__admin control plane."
    ),
    components(schemas(Message<'static>)),
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
        // Under its own name: registered as a generic, it would be `Envelope_Value`.
        let envelope = <Envelope<'static, Value> as PartialSchema>::schema();
        if let Some(components) = openapi.components.as_mut() {
            components.schemas.insert("Envelope".into(), envelope);
        }
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

/// How a field the handlers read by hand (`params.rs`, `token.rs`) is typed. Those
/// readers take a field from the body or the query, in several spellings, so that each
/// malformed value gets its catalogue row; no serde type reads them, and their shapes
/// are described here, as tables, rather than by structs never built.
#[derive(Clone, Copy)]
enum Kind {
    Text,
    Integer,
    Boolean,
    Object,
    /// Any JSON value.
    Any,
    /// A name with translations, `{defaultValue, i18nValue}`.
    I18n,
}

/// One field of a request read by hand: its name, kind and description.
type Field = (&'static str, Kind, &'static str);

fn nullable(kind: Type) -> SchemaType {
    SchemaType::from_iter([kind, Type::Null])
}

fn field_schema(kind: Kind, description: &str) -> Schema {
    let description = (!description.is_empty()).then(|| description.to_string());
    let object = match kind {
        Kind::Text => ObjectBuilder::new().schema_type(nullable(Type::String)),
        Kind::Integer => ObjectBuilder::new()
            .schema_type(nullable(Type::Integer))
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64))),
        Kind::Boolean => ObjectBuilder::new().schema_type(nullable(Type::Boolean)),
        Kind::Object => ObjectBuilder::new().schema_type(nullable(Type::Object)),
        Kind::Any => ObjectBuilder::new().schema_type(SchemaType::AnyValue),
        Kind::I18n => ObjectBuilder::new()
            .schema_type(nullable(Type::Object))
            .property("defaultValue", field_schema(Kind::Text, ""))
            .property("i18nValue", field_schema(Kind::Object, "")),
    };
    Schema::Object(object.description(description).build())
}

fn body_schema(description: &str, fields: &[Field]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description));
    for (name, kind, description) in fields {
        object = object.property(*name, field_schema(*kind, description));
    }
    RefOr::T(Schema::Object(object.build()))
}

/// A request body read by hand, described by its fields.
macro_rules! body_read_by_hand {
    ($(#[doc = $doc:literal])* $name:ident = $fields:expr) => {
        $(#[doc = $doc])*
        pub(crate) struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                body_schema(concat!($($doc),*).trim(), $fields)
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

body_read_by_hand! {
    /// The body of the certificate actions (each reads its own fields).
    CertificateBody = &[
        ("csr", Kind::Text, ""),
        ("validDay", Kind::Integer, ""),
        ("issueAuthority", Kind::Text, "RSA or ECC, in any case"),
        ("certSn", Kind::Integer, ""),
        ("reason", Kind::Any, "An integer reason code, or its name."),
    ]
}

body_read_by_hand! {
    /// The body of the product actions.
    ProductBody = &[
        ("productName", Kind::I18n, ""),
        ("productType", Kind::Text, "Device or Gateway."),
        ("dataFormat", Kind::Text, "Custom or Json."),
        ("modelId", Kind::Text, ""),
        ("biDirectionalAuth", Kind::Boolean, ""),
        ("productDesc", Kind::Text, ""),
        ("dynamicActivateEnabled", Kind::Boolean, ""),
        ("productTags", Kind::Object, ""),
        ("defaultValidDay", Kind::Integer, ""),
        ("maxValidDay", Kind::Integer, ""),
    ]
}

body_read_by_hand! {
    /// The body of the device actions.
    DeviceBody = &[
        ("productKey", Kind::Text, ""),
        ("deviceName", Kind::I18n, ""),
        ("timezone", Kind::Text, ""),
        ("deviceKey", Kind::Text, ""),
        ("deviceDesc", Kind::Text, ""),
        ("deviceAttributes", Kind::Object, ""),
        ("deviceTags", Kind::Object, ""),
    ]
}

body_read_by_hand! {
    /// The token service's body (`accessToken` for a refresh).
    TokenBody = &[
        ("appKey", Kind::Text, ""),
        ("encryption", Kind::Text, "sha256(appKey + timestamp + appSecret), hex."),
        ("timestamp", Kind::Any, "Milliseconds, as a number or a string."),
        ("accessToken", Kind::Text, ""),
    ]
}

/// The query of the EnOS routes: `action` (required, one of the resource's actions, as
/// [`ResourceAction`] spells them), then the fields that name the record.
fn enos_query<A: ResourceAction>(fields: &[(&str, bool, &str)]) -> Vec<Parameter> {
    let actions = ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(A::ALL.iter().map(|a| a.query_value())))
        .build();
    let action = ParameterBuilder::new()
        .name("action")
        .parameter_in(ParameterIn::Query)
        .required(Required::True)
        .schema(Some(actions))
        .build();
    let named = fields.iter().map(|(name, required, description)| {
        ParameterBuilder::new()
            .name(*name)
            .parameter_in(ParameterIn::Query)
            .required(if *required {
                Required::True
            } else {
                Required::False
            })
            .description(Some(*description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String).build()))
            .build()
    });
    std::iter::once(action).chain(named).collect()
}

/// The fields that name one device, in the query of `/certificates` and `/devices`.
const DEVICE_FIELDS: &[(&str, bool, &str)] = &[
    ("orgId", true, "The organization."),
    ("assetId", false, "The device (or productKey + deviceKey)."),
    ("productKey", false, "With deviceKey, names the device."),
    ("deviceKey", false, "With productKey, names the device."),
];

/// The query of `/certificates`.
pub(crate) struct CertificateQuery;

impl IntoParams for CertificateQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        enos_query::<CertAction>(DEVICE_FIELDS)
    }
}

/// The query of `/devices`.
pub(crate) struct DeviceQuery;

impl IntoParams for DeviceQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        enos_query::<DeviceAction>(DEVICE_FIELDS)
    }
}

/// The query of `/products`.
pub(crate) struct ProductQuery;

impl IntoParams for ProductQuery {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        enos_query::<ProductAction>(&[
            ("orgId", true, "The organization."),
            ("productKey", false, "The product (get, update, delete)."),
        ])
    }
}

/// An `issueAuthority` the control plane reads: a root's name (any case), or null.
pub(crate) fn authority_or_null() -> Object {
    let names = Authority::ALL.iter().map(|a| Value::from(a.as_str()));
    ObjectBuilder::new()
        .description(Some(
            "RSA or ECC (any case); absent or null: no certificates.",
        ))
        .schema_type(nullable(Type::String))
        .enum_values(Some(names.chain([Value::Null])))
        .build()
}

/// What every EnOS business route answers, documented once for the three resources.
pub(crate) struct EnosAnswers;

impl IntoResponses for EnosAnswers {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let with = |description: &str, schema: &str| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build();
            ResponseBuilder::new()
                .description(description)
                .content("application/json", content)
                .build()
                .into()
        };
        BTreeMap::from([
            (
                "200".to_string(),
                with(
                    "The EnOS envelope; business errors answer 200 with a non-zero code.",
                    "Envelope",
                ),
            ),
            ("400".into(), with("The body could not be read.", "Message")),
            (
                "401".into(),
                with("The gateway refused the credentials.", "Message"),
            ),
            (
                "413".into(),
                with("Request size limit exceeded.", "Message"),
            ),
        ])
    }
}
