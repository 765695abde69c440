//! The OpenAPI 3 description of every route, served at `GET /__admin/openapi.json`.
//! A test checks it against the routes in `api/mod.rs`.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::envelope;

fn query_param(name: &str, description: &str, required: bool) -> Value {
    json!({ "name": name, "in": "query", "required": required, "description": description, "schema": { "type": "string" } })
}

fn action_param(actions: &[&str]) -> Value {
    json!({ "name": "action", "in": "query", "required": true, "schema": { "type": "string", "enum": actions } })
}

fn device_params() -> Vec<Value> {
    vec![
        query_param("orgId", "The organization", true),
        query_param("assetId", "The device (or productKey + deviceKey)", false),
        query_param("productKey", "With deviceKey, names the device", false),
        query_param("deviceKey", "With productKey, names the device", false),
    ]
}

fn envelope_response(description: &str) -> Value {
    json!({
        "200": {
            "description": format!("{description}; business errors also answer 200 with a non-zero code"),
            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Envelope" } } }
        },
        "413": { "description": "Request size limit exceeded", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Message" } } } }
    })
}

fn json_body(schema: Value) -> Value {
    json!({ "required": false, "content": { "application/json": { "schema": schema } } })
}

fn enos_resource(summary: &str, actions: &[&str], params: Vec<Value>, body: Value) -> Value {
    let mut parameters = vec![action_param(actions)];
    parameters.extend(params);
    json!({
        "get": { "summary": format!("{summary} (read actions)"), "parameters": parameters, "responses": envelope_response("EnOS envelope") },
        "post": { "summary": summary, "parameters": parameters, "requestBody": json_body(body), "responses": envelope_response("EnOS envelope") }
    })
}

fn admin(method: &str, summary: &str, body: Option<Value>) -> Value {
    let mut op = json!({
        "summary": summary,
        "responses": {
            "200": { "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } },
            "400": { "description": "Bad request", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Message" } } } }
        }
    });
    if let Some(schema) = body {
        op["requestBody"] = json_body(schema);
    }
    json!({ method: op })
}

fn merge(a: Value, b: Value) -> Value {
    let (Value::Object(mut a), Value::Object(b)) = (a, b) else {
        return Value::Null;
    };
    a.extend(b);
    Value::Object(a)
}

fn binary(content_type: &str, summary: &str, with_format: bool) -> Value {
    let mut op = json!({
        "summary": summary,
        "responses": {
            "200": { "description": "OK", "content": { content_type: { "schema": { "type": "string" } } } },
            "404": { "description": "Unknown authority" }
        }
    });
    if with_format {
        op["parameters"] = json!([{ "name": "format", "in": "query", "schema": { "type": "string", "enum": ["der", "pem"] } }]);
    }
    json!({ "get": op })
}

/// The token service: `{status, msg, business, data}`, outside the gateway.
fn token(summary: &str, refresh: bool) -> Value {
    let mut properties = json!({
        "appKey": { "type": "string" }, "encryption": { "type": "string" },
        "timestamp": { "oneOf": [{ "type": "integer" }, { "type": "string" }] } });
    if refresh {
        properties["accessToken"] = json!({ "type": "string" });
    }
    json!({ "post": {
        "summary": summary,
        "requestBody": json_body(json!({ "type": "object", "properties": properties })),
        "responses": { "200": { "description": "status 0 with data {accessToken, expire}, or a non-zero status",
            "content": { "application/json": { "schema": { "type": "object", "properties": {
                "status": { "type": "integer" }, "msg": { "type": "string" }, "business": { "type": "string" }, "data": {} } } } } } }
    } })
}

fn kind_param() -> Value {
    json!([{ "name": "kind", "in": "path", "required": true, "schema": { "type": "string", "enum": ["RSA", "ECC"] } }])
}

/// The whole document.
pub(crate) fn document() -> Value {
    let cert_body = json!({ "type": "object", "properties": {
        "csr": { "type": "string" }, "validDay": { "type": "integer" }, "issueAuthority": { "type": "string", "enum": ["RSA", "ECC"] },
        "certSn": { "type": "integer" }, "reason": { "oneOf": [{ "type": "integer" }, { "type": "string" }] } } });
    let product_body = json!({ "type": "object", "properties": {
        "productName": { "$ref": "#/components/schemas/StringI18n" }, "productType": { "type": "string", "enum": ["Device", "Gateway"] },
        "dataFormat": { "type": "string", "enum": ["Custom", "Json"] }, "modelId": { "type": "string" },
        "biDirectionalAuth": { "type": "boolean" }, "productDesc": { "type": "string" }, "dynamicActivateEnabled": { "type": "boolean" },
        "productTags": { "type": "object" }, "defaultValidDay": { "type": "integer" }, "maxValidDay": { "type": "integer" } } });
    let device_body = json!({ "type": "object", "properties": {
        "productKey": { "type": "string" }, "deviceName": { "$ref": "#/components/schemas/StringI18n" }, "timezone": { "type": "string" },
        "deviceKey": { "type": "string" }, "deviceDesc": { "type": "string" }, "deviceAttributes": { "type": "object" },
        "deviceTags": { "type": "object" } } });
    let certificates = enos_resource(
        "Apply, renew, revoke or list certificates of a device",
        &["apply", "renew", "revoke", "list"],
        device_params(),
        cert_body,
    );
    let mut product_params = vec![query_param("orgId", "The organization", true)];
    product_params.push(query_param(
        "productKey",
        "The product (get, update, delete)",
        false,
    ));
    let products = enos_resource(
        "Create, get, update or delete a product",
        &["create", "get", "update", "delete"],
        product_params,
        product_body,
    );
    let devices = enos_resource(
        "Create, get, update or delete a device",
        &["create", "get", "update", "delete"],
        device_params(),
        device_body,
    );
    let mut cacert_kind = binary("application/x-pem-file", "A root CA certificate", false);
    cacert_kind["get"]["parameters"] = kind_param();
    let mut crl_kind = binary(
        "application/pkix-crl",
        "A root's CRL (DER, or PEM with format=pem)",
        true,
    );
    crl_kind["get"]["parameters"] = json!([
        { "name": "format", "in": "query", "schema": { "type": "string", "enum": ["der", "pem"] } },
        kind_param()[0]
    ]);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "enos-cert-mock",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A mock of the EnOS certificate service: the EnOS Connection Service certificate, product and device APIs (behind the gateway: apim-accesstoken, optionally apim-timestamp and apim-signature), the token service, the CA endpoints, and the /__admin control plane."
        },
        "paths": {
            "/connect-service/v2.0/certificates": certificates.clone(),
            "/connect-service/v2.1/certificates": certificates,
            "/connect-service/v2.0/products": products.clone(),
            "/connect-service/v2.1/products": products,
            "/connect-service/v2.0/devices": devices.clone(),
            "/connect-service/v2.1/devices": devices,
            "/apim-token-service/v2.0/token/get": token("Get an access token: appKey, encryption = sha256(appKey + timestamp + appSecret), timestamp", false),
            "/apim-token-service/v2.0/token/refresh": token("Refresh an access token (same fields plus accessToken)", true),
            "/enos/CA/cacert": binary("application/x-pem-file", "The RSA root certificate", false),
            "/enos/CA/cacert/{kind}": cacert_kind,
            "/enos/CA/crl": binary("application/pkix-crl", "The RSA root's CRL (DER, or PEM with format=pem)", true),
            "/enos/CA/crl/{kind}": crl_kind,
            "/__admin/health": admin("get", "Readiness, version, fixtures, roots, clock, counts", None),
            "/__admin/clock": merge(
                admin("get", "The mock clock", None),
                admin("post", "Move the clock: advanceSeconds, advanceDays, set or reset", Some(json!({ "type": "object" }))),
            ),
            "/__admin/reset": admin("post", "Back to the fixtures; clock, faults, journal reset", None),
            "/__admin/reload": admin("post", "Re-read the fixtures file and reset to it", None),
            "/__admin/errors": admin("get", "The error catalogue", None),
            "/__admin/orgs": merge(
                admin("get", "Declared orgs and apps", None),
                admin("post", "Declare an org with apps", Some(json!({ "type": "object" }))),
            ),
            "/__admin/faults": merge(
                merge(admin("get", "Registered faults", None), admin("delete", "Clear all faults", None)),
                admin("post", "Register a fault", Some(json!({ "type": "object" }))),
            ),
            "/__admin/requests": merge(
                admin("get", "The request journal (filters: action, code, limit)", None),
                admin("delete", "Clear the journal", None),
            ),
            "/__admin/bulk/devices": admin("post", "Bulk-load devices of one product, each with a certificate for a fresh key (scale tests)", Some(json!({ "type": "object", "properties": {
                "orgId": { "type": "string" }, "productKey": { "type": "string" }, "count": { "type": "integer" },
                "prefix": { "type": "string" }, "issueAuthority": { "type": "string", "enum": ["RSA", "ECC"] } } }))),
            "/__admin/openapi.json": admin("get", "This document", None),
            "/": admin("get", "Redirects (307) to the dashboard, /__admin/ui", None),
            "/__admin/ui": admin("get", "The dashboard: one embedded HTML page (text/html)", None),
            "/__admin/state": admin("get", "The dashboard's data: orgs, products, a page of devices (filter, offset, limit) with decoded certificates, both roots with their CRL entries", None)
        },
        "components": {
            "schemas": {
                "Envelope": { "type": "object", "properties": {
                    "code": { "type": "integer" }, "msg": { "type": "string" }, "requestId": { "type": "string" }, "data": {} } },
                "Message": { "type": "object", "properties": { "message": { "type": "string" } } },
                "StringI18n": { "type": "object", "properties": {
                    "defaultValue": { "type": "string" }, "i18nValue": { "type": "object" } } }
            }
        }
    })
}

pub(crate) async fn serve() -> Response {
    envelope::json(StatusCode::OK, &document())
}
