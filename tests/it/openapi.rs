//! The OpenAPI document at `GET /__admin/openapi.json` (generated from the handlers'
//! declarations) describes exactly the routes the server answers, with the answers
//! they give.

use std::collections::BTreeSet;

use crate::common::judge::post_clock;
use crate::common::*;
use reqwest::Method;
use serde_json::{json, Value};

/// Every (method, path) the server routes, as a client would call it.
const SERVED: &[(&str, &str)] = &[
    ("get", "/connect-service/v2.0/certificates"),
    ("post", "/connect-service/v2.0/certificates"),
    ("get", "/connect-service/v2.1/certificates"),
    ("post", "/connect-service/v2.1/certificates"),
    ("get", "/connect-service/v2.0/products"),
    ("post", "/connect-service/v2.0/products"),
    ("get", "/connect-service/v2.1/products"),
    ("post", "/connect-service/v2.1/products"),
    ("get", "/connect-service/v2.0/devices"),
    ("post", "/connect-service/v2.0/devices"),
    ("get", "/connect-service/v2.1/devices"),
    ("post", "/connect-service/v2.1/devices"),
    ("post", "/apim-token-service/v2.0/token/get"),
    ("post", "/apim-token-service/v2.0/token/refresh"),
    ("get", "/enos/CA/cacert"),
    ("get", "/enos/CA/cacert/{kind}"),
    ("get", "/enos/CA/crl"),
    ("get", "/enos/CA/crl/{kind}"),
    ("get", "/__admin/health"),
    ("get", "/__admin/clock"),
    ("post", "/__admin/clock"),
    ("post", "/__admin/reset"),
    ("post", "/__admin/reload"),
    ("get", "/__admin/errors"),
    ("get", "/__admin/orgs"),
    ("post", "/__admin/orgs"),
    ("get", "/__admin/faults"),
    ("post", "/__admin/faults"),
    ("delete", "/__admin/faults"),
    ("get", "/__admin/requests"),
    ("delete", "/__admin/requests"),
    ("post", "/__admin/bulk/devices"),
    ("get", "/__admin/openapi.json"),
    ("get", "/"),
    ("get", "/__admin/ui"),
    ("get", "/__admin/state"),
    ("get", "/__admin/connections"),
    ("get", "/__admin/connections/{id}"),
    ("delete", "/__admin/connections/{id}"),
    ("post", "/__admin/mqtt/publish"),
];

const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];

async fn document(mock: &Mock) -> Value {
    let response = mock
        .http
        .get(mock.url("/__admin/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.expect("the document is JSON")
}

fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if METHODS.contains(&method.as_str()) {
                operations.insert((method.clone(), path.clone()));
            }
        }
    }
    operations
}

/// The status the server answers `method path` with (path parameters filled in;
/// an empty JSON body, which no write accepts, so nothing changes).
async fn status_of(mock: &Mock, method: &str, path: &str) -> u16 {
    let path = path.replace("{kind}", "RSA");
    let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
    let request = mock.http.request(method, mock.url(&path));
    let request = request
        .header("content-type", "application/json")
        .body("{}");
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn the_document_describes_every_served_route_and_only_those() {
    let mock = Mock::start().await;
    let doc = document(&mock).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "OpenAPI 3"
    );
    assert_eq!(doc["info"]["title"], "enos-cert-mock");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let served: BTreeSet<(String, String)> = SERVED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented(&doc), served);

    // Each listed call is routed (not the 404/405 fallbacks); on the admin and CA
    // paths, a method the document does not name is not (405).
    let mut problems = Vec::new();
    for (method, path) in &served {
        let status = status_of(&mock, method, path).await;
        if status == 404 || status == 405 {
            problems.push(format!("{method} {path}: {status}"));
        }
    }
    let paths: BTreeSet<&String> = served.iter().map(|(_, p)| p).collect();
    for path in paths {
        if path.starts_with("/connect-service/") {
            continue; // any method reaches the EnOS resources, which answer it themselves
        }
        for method in METHODS {
            if served.contains(&(method.to_string(), path.clone())) {
                continue;
            }
            let status = status_of(&mock, method, path).await;
            if status != 405 {
                problems.push(format!("undocumented {method} {path}: {status}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Operation ids are unique; path parameters are declared.
    let mut ids = BTreeSet::new();
    for (method, path) in &served {
        let op = &doc["paths"][path][method];
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        if path.contains("{kind}") {
            let params = op["parameters"].as_array().expect("parameters");
            assert!(
                params
                    .iter()
                    .any(|p| p["in"] == "path" && p["name"] == "kind" && p["required"] == true),
                "{method} {path} does not declare kind"
            );
        }
    }
}

fn statuses(op: &Value) -> BTreeSet<String> {
    op["responses"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn the_document_names_the_gateway_size_and_format_answers() {
    let mock = Mock::start().await;
    let doc = document(&mock).await;
    let set = |codes: &[&str]| codes.iter().map(|c| c.to_string()).collect::<BTreeSet<_>>();

    for (method, path) in SERVED {
        if !path.starts_with("/connect-service/") {
            continue;
        }
        let op = &doc["paths"][path][method];
        assert_eq!(
            statuses(op),
            set(&["200", "400", "401", "403", "413"]),
            "{method} {path}"
        );
        assert_eq!(
            op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/Envelope"
        );
        let actions = &op["parameters"].as_array().unwrap()[0];
        assert_eq!(actions["name"], "action", "{method} {path}");
        assert_eq!(actions["required"], true);
    }

    for path in ["/enos/CA/crl", "/enos/CA/crl/{kind}"] {
        let op = &doc["paths"][path]["get"];
        assert!(statuses(op).contains("400"), "{path}: no 400");
        let content = op["responses"]["200"]["content"].as_object().unwrap();
        let types: BTreeSet<&str> = content.keys().map(String::as_str).collect();
        assert_eq!(
            types,
            BTreeSet::from(["application/pkix-crl", "application/x-pem-file"])
        );
    }
    for path in ["/enos/CA/cacert", "/enos/CA/cacert/{kind}"] {
        let content = &doc["paths"][path]["get"]["responses"]["200"]["content"];
        assert!(content["application/x-pem-file"].is_object(), "{path}");
    }

    // ...and the server gives those answers.
    let crl = status_of(&mock, "get", "/enos/CA/crl?format=xml").await;
    assert_eq!(crl, 400);
    let response = mock
        .http
        .get(mock.url("/enos/CA/cacert"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-pem-file");
}

/// The answers the document calls arrays are arrays (schemathesis found objects
/// documented where the server sent lists).
#[tokio::test]
async fn list_answers_are_documented_as_arrays() {
    let mock = Mock::start().await;
    let doc = document(&mock).await;
    for (method, path) in [
        ("get", "/__admin/errors"),
        ("get", "/__admin/faults"),
        ("delete", "/__admin/faults"),
        ("get", "/__admin/orgs"),
        ("get", "/__admin/requests"),
        ("delete", "/__admin/requests"),
    ] {
        let schema = &doc["paths"][path][method]["responses"]["200"]["content"]["application/json"]
            ["schema"];
        assert_eq!(schema["type"], "array", "{method} {path}: {schema}");
        let request = mock.http.request(
            Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            mock.url(path),
        );
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(answer.is_array(), "{method} {path}: {answer}");
    }
    // A request body the document allows for the clock is one the server takes.
    let schema = &doc["components"]["schemas"]["ClockChange"];
    assert_eq!(schema["additionalProperties"], false);
    let (status, _) = post_clock(&mock, json!({ "advanceSeconds": 5 })).await;
    assert_eq!(status, 200);
}

/// What the document lets a client send is what the server takes: each request schema
/// refuses the bodies and parameters the server refuses (schemathesis sent
/// `{"set": null}`, `{}`, `{"orgId": ""}`, `?format=` and a non-numeric connection id,
/// all valid by the document, all refused with 400).
#[tokio::test]
async fn request_schemas_are_as_strict_as_the_server() {
    let mock = Mock::start().await;
    let doc = document(&mock).await;

    let clock = &doc["components"]["schemas"]["ClockChange"];
    assert_eq!(clock["minProperties"], 1, "{clock}");
    assert_eq!(clock["maxProperties"], 1, "{clock}");
    for (name, field) in clock["properties"].as_object().unwrap() {
        assert!(
            !field["type"].to_string().contains("null"),
            "ClockChange.{name} nullable: {field}"
        );
    }
    assert_eq!(clock["properties"]["reset"]["enum"], json!([true]));
    assert_eq!(clock["properties"]["set"]["format"], "date-time");
    for body in [json!({}), json!({ "set": null }), json!({ "reset": false })] {
        let (status, _) = post_clock(&mock, body.clone()).await;
        assert_eq!(status, 400, "{body}");
    }

    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["OrgBody"]["properties"]["orgId"]["minLength"], 1);
    assert_eq!(schemas["AppBody"]["properties"]["appKey"]["minLength"], 1);
    assert_eq!(
        schemas["AppBody"]["properties"]["appSecret"]["minLength"],
        1
    );
    let response = mock
        .http
        .post(mock.url("/__admin/orgs"))
        .json(&json!({ "orgId": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    for path in ["/enos/CA/crl", "/enos/CA/crl/{kind}"] {
        let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
        let format = params.iter().find(|p| p["name"] == "format").unwrap();
        assert_eq!(format["schema"]["enum"], json!(["der", "pem"]), "{path}");
    }
    assert_eq!(status_of(&mock, "get", "/enos/CA/crl?format=").await, 400);

    let drop = &doc["paths"]["/__admin/connections/{id}"]["delete"]["parameters"][0];
    assert_eq!(drop["schema"]["type"], "integer", "{drop}");
    assert_eq!(
        status_of(&mock, "delete", "/__admin/connections/x").await,
        400
    );
}

/// The business routes name the gateway's token, so a generated client (or
/// schemathesis) sends it.
#[tokio::test]
async fn business_routes_name_the_gateway_token() {
    let mock = Mock::start().await;
    let doc = document(&mock).await;
    let scheme = &doc["components"]["securitySchemes"]["apim_accesstoken"];
    assert_eq!(scheme["type"], "apiKey");
    assert_eq!(scheme["in"], "header");
    assert_eq!(scheme["name"], "apim-accesstoken");
    for (method, path) in SERVED {
        let security = &doc["paths"][path][method]["security"];
        if path.starts_with("/connect-service/") {
            assert_eq!(
                security,
                &json!([{ "apim_accesstoken": [] }]),
                "{method} {path}"
            );
        } else {
            assert!(security.is_null(), "{method} {path}: {security}");
        }
    }
}

/// docs/reference.md names every route outside the EnOS resources (as `METHOD path`),
/// every catalogue row (`GET /__admin/errors`, MQTT replies included) and every field of
/// health: a route, row or field added without its line fails here.
#[tokio::test]
async fn the_reference_names_every_route_row_and_health_field() {
    let reference =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/reference.md"))
            .expect("docs/reference.md");
    let mut missing = Vec::new();
    for (method, path) in SERVED {
        if path.starts_with("/connect-service/") {
            continue; // one section per resource, both versions
        }
        let call = format!(
            "{} {}",
            method.to_uppercase(),
            path.replace("{kind}", "RSA")
        );
        if !reference.contains(&call) {
            missing.push(call);
        }
    }

    let mock = Mock::start().await;
    let get = |path: &'static str| {
        let request = mock.http.get(mock.url(path));
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    for row in get("/__admin/errors").await.as_array().unwrap() {
        let key = format!("`{}`", row["key"].as_str().unwrap());
        if !reference.contains(&key) {
            missing.push(key);
        }
    }
    let health_line = reference
        .lines()
        .find(|l| l.starts_with("| `GET /__admin/health`"))
        .expect("the health row");
    for field in get("/__admin/health").await.as_object().unwrap().keys() {
        if !health_line.contains(field.as_str()) {
            missing.push(format!("health's {field}"));
        }
    }
    assert!(missing.is_empty(), "not in docs/reference.md: {missing:?}");
}
