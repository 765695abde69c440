//! The OpenAPI document at `GET /__admin/openapi.json` describes exactly the routes
//! of the router: every `.route(...)` of `src/api/mod.rs` with its methods, and nothing else.

use std::collections::{BTreeMap, BTreeSet};

use crate::common::*;
use serde_json::Value;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The routes written in the router source: path → lower-case HTTP methods.
/// `any(...)` counts as get and post (what the EnOS resources answer).
fn routes_in_source(source: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut routes = BTreeMap::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        rest = &rest[at + ".route(".len()..];
        // The argument list up to the matching close parenthesis.
        let mut depth = 1;
        let mut end = None;
        let mut in_string = false;
        for (i, c) in rest.char_indices() {
            match c {
                '"' => in_string = !in_string,
                '(' if !in_string => depth += 1,
                ')' if !in_string => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let args = &rest[..end.expect("a closed .route( call")];
        let args = args.trim_start();
        assert!(
            args.starts_with('"'),
            "route path is not a literal: {args:?}"
        );
        let close = args[1..].find('"').expect("closed path literal") + 1;
        let path = args[1..close].to_string();
        let handler = &args[close + 1..];
        let methods = methods_in(handler);
        assert!(
            !methods.is_empty(),
            "no method found for route {path}: {handler:?}"
        );
        assert!(
            routes.insert(path.clone(), methods).is_none(),
            "route {path} written twice"
        );
        rest = &rest[end.unwrap()..];
    }
    routes
}

/// Method routers named in a handler expression: `get(`, `.post(`, `delete(`, `any(`...
fn methods_in(handler: &str) -> BTreeSet<String> {
    let mut methods = BTreeSet::new();
    let bytes = handler.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let word = &handler[start..i];
            let called = bytes.get(i) == Some(&b'(');
            let qualified = start >= 2 && &handler[start - 2..start] == "::";
            if called && !qualified {
                match word {
                    "any" => {
                        methods.insert("get".to_string());
                        methods.insert("post".to_string());
                    }
                    w if HTTP_METHODS.contains(&w) => {
                        methods.insert(w.to_string());
                    }
                    _ => {}
                }
            }
        } else {
            i += 1;
        }
    }
    methods
}

#[test]
fn the_route_extraction_reads_methods_as_axum_writes_them() {
    let source = r#"
        .route("/a", any(x::handle))
        .route(
            "/b/{kind}",
            get(admin::get_clock).post(admin::set_clock),
        )
        .route("/c", get(admin::list).post(admin::add).delete(admin::clear))
        .route("/d", post(admin::reset))
    "#;
    let routes = routes_in_source(source);
    let set = |m: &[&str]| m.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(routes.len(), 4, "{routes:?}");
    assert_eq!(routes["/a"], set(&["get", "post"]));
    assert_eq!(routes["/b/{kind}"], set(&["get", "post"]));
    assert_eq!(routes["/c"], set(&["delete", "get", "post"]));
    assert_eq!(routes["/d"], set(&["post"]));
}

#[tokio::test]
async fn the_openapi_document_describes_every_route_and_only_routes() {
    let source_path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mod.rs");
    let source = std::fs::read_to_string(source_path).expect("router source readable");
    let routes = routes_in_source(&source);
    assert!(
        routes.len() >= 19,
        "the extraction found only {} routes: {routes:?}",
        routes.len()
    );
    for expected in [
        "/connect-service/v2.0/certificates",
        "/connect-service/v2.1/certificates",
        "/enos/CA/crl/{kind}",
        "/__admin/faults",
        "/__admin/requests",
        "/__admin/reload",
        "/__admin/openapi.json",
    ] {
        assert!(routes.contains_key(expected), "{expected} not extracted");
    }

    let mock = Mock::start().await;
    let response = mock
        .http
        .get(mock.url("/__admin/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let doc: Value = response.json().await.expect("the document is JSON");
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3."), "OpenAPI 3: {version}");
    assert!(doc["info"]["title"].is_string(), "info.title");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().expect("paths is an object");

    let mut problems = Vec::new();
    for (path, methods) in &routes {
        let Some(item) = paths.get(path) else {
            problems.push(format!("routed {path} is not documented"));
            continue;
        };
        let documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| HTTP_METHODS.contains(&k.as_str()))
            .cloned()
            .collect();
        if &documented != methods {
            problems.push(format!(
                "{path}: routed methods {methods:?}, documented {documented:?}"
            ));
        }
    }
    for path in paths.keys() {
        if !routes.contains_key(path) {
            problems.push(format!("documented {path} is not routed"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every operation answers something, and declares the path's parameters.
    for (path, item) in paths {
        let names: Vec<&str> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .collect();
        for (method, op) in item.as_object().unwrap() {
            if !HTTP_METHODS.contains(&method.as_str()) {
                continue;
            }
            assert!(
                op["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} has no responses"
            );
            for name in &names {
                let declared = op["parameters"].as_array().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| p["in"] == "path" && p["name"] == *name && p["required"] == true)
                });
                assert!(
                    declared,
                    "{method} {path} does not declare path parameter {name}"
                );
            }
        }
    }
}
