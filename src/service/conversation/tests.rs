//! The device rules over the default fixtures, called as a transport calls them: every
//! refusal code of the reply catalogue this module raises, and what success answers.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::login::{parse, Login};
use super::*;
use crate::MockServer;

const GATEWAY: &str = "Pl9gY1wQ"; // PlainPrd gateway-001, a gateway product
const SUB1: &str = "Sb3mQ8vN"; // SubPrd sub-001, with a thing model
const SUB2: &str = "Sb5wH2kR";
const DYNAMIC: &str = "Dy6pL4tZ"; // DynPrd, dynamic activation on
const METER: &str = "Uvmm5AXU"; // BiDiProd, bi-directional

fn names(service: &Service, asset_id: &str) -> DeviceNames {
    service
        .store
        .device_names(&DeviceId::AssetId(asset_id.into()))
        .unwrap()
}

fn secret(service: &Service, asset_id: &str) -> String {
    service
        .store
        .device_with_product(&DeviceId::AssetId(asset_id.into()))
        .unwrap()
        .0
        .device_secret
}

fn sha256(text: &str) -> String {
    crate::hex::lower(&Sha256::digest(text.as_bytes()))
}

/// A sub-device's login parameters as the SDK signs them (hmacsha256: SHA-256 of content +
/// secret).
fn sub_login(d: &DeviceNames, secret: &str, mode: &str) -> Value {
    let content = format!(
        "clientIdc1deviceKey{}productKey{}timestamp1700000000000",
        d.device_key, d.product_key
    );
    json!({"productKey": d.product_key, "deviceKey": d.device_key, "clientId": "c1",
        "timestamp": "1700000000000", "signMethod": "hmacsha256", "secureMode": mode,
        "sign": sha256(&format!("{content}{secret}")), "cleanSession": "false"})
}

fn request(method: &str, params: Value) -> Value {
    json!({"id": "7", "version": "1.1", "method": method, "params": params})
}

struct Device<'a> {
    service: &'a Service,
    names: DeviceNames,
    session: u64,
}

impl Device<'_> {
    fn view(&self) -> SessionView<'_> {
        SessionView {
            id: self.session,
            device: &self.names,
            secure: false,
        }
    }

    /// Publishes `payload` on `tail` of `device` (this one's by default) and returns the
    /// answer's code and data (or message).
    fn ask_as(
        &self,
        device: &DeviceNames,
        root: TopicRoot,
        tail: &str,
        payload: &[u8],
    ) -> (i64, Value) {
        let topic = root.topic(device, tail);
        let view = self.view();
        let addressed = self.service.address(&view, &topic).expect("in scope");
        let answer = self
            .service
            .answer(&view, &addressed, &topic, payload)
            .expect("a request");
        assert_eq!(answer.topic, format!("{topic}_reply"));
        let body = answer.payload();
        let detail = if answer.code() == 200 {
            body["data"].clone()
        } else {
            body["message"].clone()
        };
        (answer.code(), detail)
    }

    fn ask(&self, tail: &str, method: &str, params: Value) -> (i64, Value) {
        let root = if tail.starts_with("combine") {
            TopicRoot::ExtSession
        } else {
            TopicRoot::Sys
        };
        let payload = request(method, params).to_string();
        self.ask_as(&self.names, root, tail, payload.as_bytes())
    }
}

fn device<'a>(service: &'a Service, asset_id: &str, session: u64) -> Device<'a> {
    Device {
        service,
        names: names(service, asset_id),
        session,
    }
}

#[tokio::test]
async fn malformed_requests_get_the_common_codes() {
    let mock = MockServer::builder().start().await.unwrap();
    let d = device(mock.service(), GATEWAY, 1);
    let post = "thing/measurepoint/post";
    let raw = |payload: &[u8]| d.ask_as(&d.names, TopicRoot::Sys, post, payload).0;
    assert_eq!(raw(b""), 1251);
    assert_eq!(raw(b"{not json"), 1220);
    assert_eq!(raw(b"[1, 2]"), 1220);
    assert_eq!(raw(&vec![b' '; MAX_REQUEST_BYTES + 1]), 1008);
    assert_eq!(raw(br#"{"id": "1", "params": {}}"#), 1260);
    let cases = [
        (post, "thing.attribute.update", json!({}), 1260),
        (post, "thing.measurepoint.post", json!({}), 1206),
        (
            post,
            "thing.measurepoint.post",
            json!({"measurepoints": 3}),
            1206,
        ),
        (
            post,
            "thing.measurepoint.post",
            json!({"measurepoints": {"t": 1}, "time": "x"}),
            1206,
        ),
        (
            "thing/measurepoint/post/batch",
            "thing.measurepoint.post.batch",
            json!({}),
            1206,
        ),
        (
            "thing/attribute/update",
            "thing.attribute.update",
            json!({"attributes": []}),
            1207,
        ),
        (
            "thing/attribute/query",
            "thing.attribute.query",
            json!({"attributes": "a"}),
            1208,
        ),
        (
            "thing/attribute/delete",
            "thing.attribute.delete",
            json!({}),
            1209,
        ),
        (
            "thing/tag/update",
            "thing.tag.update",
            json!([{"tagKey": "k"}]),
            1220,
        ),
        (
            "thing/event/overheat/post",
            "thing.event.overheat.post",
            json!({}),
            1220,
        ),
        ("thing/nothing/here", "thing.nothing", json!({}), 1009),
        (
            post,
            "thing.measurepoint.post",
            json!({"measurepoints": {"any": 1}, "time": 5}),
            200,
        ),
        (
            "thing/event/overheat/post",
            "thing.event.%s.postoverheat",
            json!({"events": {}}),
            200,
        ),
        (
            "ota/device/getversion",
            "Ota.device.getversion",
            json!({}),
            200,
        ),
        (
            "ota/device/inform",
            "ota.inform",
            json!({"version": "1.2"}),
            200,
        ),
        ("ota/device/inform", "ota.inform", json!({}), 1220),
        (
            "ota/device/progress",
            "ota.progress",
            json!({"step": "50", "desc": ""}),
            200,
        ),
    ];
    for (tail, method, params, code) in cases {
        let (got, detail) = d.ask(tail, method, params.clone());
        assert_eq!(got, code, "{tail} {method} {params}: {detail}");
    }
    // The id of the request comes back, whatever its type.
    let topic = TopicRoot::Sys.topic(&d.names, post);
    let view = d.view();
    let addressed = mock.service().address(&view, &topic).unwrap();
    for id in [json!("abc"), json!(42), Value::Null] {
        let payload = json!({"id": id, "method": "thing.measurepoint.post",
            "params": {"measurepoints": {}}});
        let answer = mock
            .service()
            .answer(&view, &addressed, &topic, payload.to_string().as_bytes())
            .unwrap();
        assert_eq!(
            answer.payload(),
            json!({"id": id, "code": 200, "data": {}, "message": ""})
        );
    }
    // Raw data is acknowledged in JSON: the mock runs no parsing script.
    let (code, _) = d.ask_as(
        &d.names,
        TopicRoot::Sys,
        "thing/model/up_raw",
        &[1, 0, 0xff],
    );
    assert_eq!(code, 200);
}

#[tokio::test]
async fn attributes_and_tags_are_kept_per_device() {
    let mock = MockServer::builder().start().await.unwrap();
    let d = device(mock.service(), GATEWAY, 1);
    let update = json!({"attributes": {"location": "roof", "level": {"value": 3}}});
    assert_eq!(
        d.ask("thing/attribute/update", "thing.attribute.update", update)
            .0,
        200
    );
    let query = |names: Value| {
        d.ask(
            "thing/attribute/query",
            "thing.attribute.query",
            json!({"attributes": names}),
        )
    };
    assert_eq!(
        query(json!(["location"])),
        (200, json!({"location": "roof"}))
    );
    assert_eq!(
        query(json!([])),
        (200, json!({"location": "roof", "level": {"value": 3}}))
    );
    let delete = json!({"attributes": ["location"]});
    assert_eq!(
        d.ask("thing/attribute/delete", "thing.attribute.delete", delete)
            .0,
        200
    );
    assert_eq!(query(json!([])), (200, json!({"level": {"value": 3}})));
    // device.get shows what the device set.
    let stored = mock
        .service()
        .store
        .device_with_product(&DeviceId::AssetId(GATEWAY.into()))
        .unwrap()
        .0;
    assert_eq!(stored.device_attributes["level"], json!({"value": 3}));

    let tags = json!([{"tagKey": "site", "tagValue": "north"}, {"tagKey": "floor", "tagValue": 3}]);
    assert_eq!(d.ask("thing/tag/update", "thing.tag.update", tags).0, 200);
    let tag_query =
        |names: Value| d.ask("thing/tag/query", "thing.tag.query", json!({"tags": names}));
    assert_eq!(tag_query(json!(["floor"])), (200, json!({"floor": "3"})));
    assert_eq!(
        d.ask(
            "thing/tag/delete",
            "thing.tag.delete",
            json!({"tags": ["site"]})
        )
        .0,
        200
    );
    assert_eq!(tag_query(json!([])), (200, json!({"floor": "3"})));
}

#[tokio::test]
async fn a_gateway_adds_logs_in_and_posts_for_its_sub_devices() {
    let mock = MockServer::builder().start().await.unwrap();
    let service = mock.service();
    let gw = device(service, GATEWAY, 1);
    let sub1 = names(service, SUB1);
    let sub2 = names(service, SUB2);
    let add = |d: &DeviceNames, secret: &str| {
        gw.ask(
            "thing/topo/add",
            "thing.topo.add",
            json!([sub_login(d, secret, "2")]),
        )
    };
    // Not a sub-device yet: 740; after a wrongly signed add: still 740.
    let login = |d: &DeviceNames, secret: &str| {
        gw.ask("combine/login", "combine.login", sub_login(d, secret, "2"))
    };
    assert_eq!(login(&sub1, &secret(service, SUB1)).0, 740);
    let (code, message) = add(&sub1, "wrong");
    assert_eq!(code, 1255);
    assert_eq!(
        message,
        "add topo failure, SubPrd&sub-001: sign check failed"
    );
    assert_eq!(add(&sub1, &secret(service, SUB1)).0, 200);
    assert_eq!(add(&sub2, &secret(service, SUB2)).0, 200);
    assert_eq!(
        gw.ask("thing/topo/get", "thing.topo.get", json!({})),
        (
            200,
            json!([{"productKey": "SubPrd", "deviceKey": "sub-001"},
            {"productKey": "SubPrd", "deviceKey": "sub-002"}])
        )
    );
    // Another gateway cannot take them; a non-gateway has no topology.
    let meter = device(service, METER, 2);
    assert_eq!(
        meter.ask("thing/topo/get", "thing.topo.get", json!({})).0,
        1200
    );

    // Logged in with its own secret only: 742, then 200 with its assetId.
    assert_eq!(login(&sub1, "wrong").0, 742);
    let unknown = DeviceNames {
        device_key: "nope".into(),
        ..sub1.clone()
    };
    assert_eq!(login(&unknown, "x").0, 705);
    assert_eq!(
        login(&sub1, &secret(service, SUB1)),
        (
            200,
            json!({"assetId": SUB1, "productKey": "SubPrd", "deviceKey": "sub-001"})
        )
    );
    assert_eq!(service.logged_in_through(1), vec![sub1.clone()]);

    // Posting for it through the gateway: its model is checked (1204 for an unknown point).
    let post = |d: &DeviceNames, points: Value| {
        let payload = request("thing.measurepoint.post", json!({"measurepoints": points}));
        gw.ask_as(
            d,
            TopicRoot::Sys,
            "thing/measurepoint/post",
            payload.to_string().as_bytes(),
        )
    };
    assert_eq!(post(&sub1, json!({"temperature": 21.5})).0, 200);
    let (code, message) = post(&sub1, json!({"rpm": 1}));
    assert_eq!(code, 1204);
    assert_eq!(
        message,
        "Model validate failed, measurepoint \"rpm\" is not defined in the thing model"
    );
    // sub-002 is in the topology but not logged in: 1009; in a batch: 1212.
    assert_eq!(post(&sub2, json!({"temperature": 1})).0, 1009);
    let batch = json!([{"measurepoints": {"x": 1}},
        {"productKey": "SubPrd", "deviceKey": "sub-001", "measurepoints": {"humidity": 40}},
        {"productKey": "SubPrd", "deviceKey": "sub-002", "measurepoints": {"humidity": 40}}]);
    let (code, message) = gw.ask(
        "thing/measurepoint/post/batch",
        "thing.measurepoint.post.batch",
        batch,
    );
    assert_eq!(code, 1212);
    assert_eq!(
        message,
        "No sub-device permission, SubPrd&sub-002 is not logged in through this gateway"
    );
    // An online sub-device cannot leave the topology.
    let remove = |d: &DeviceNames| {
        gw.ask(
            "thing/topo/delete",
            "thing.topo.delete",
            json!([{"productKey": d.product_key, "deviceKey": d.device_key}]),
        )
    };
    assert_eq!(
        remove(&sub1),
        (
            1256,
            json!("Remove topo failure, SubPrd&sub-001: the sub-device is online")
        )
    );

    // Batch login: one in, one wrongly signed: the first failure's code, both lists.
    let batch_login = |secrets: [&str; 2]| {
        let content = |d: &DeviceNames| {
            format!(
                "clientIdlogin.batchdeviceKey{}productKey{}timestamp1.5",
                d.device_key, d.product_key
            )
        };
        let entry = |d: &DeviceNames, s: &str| {
            json!({"productKey": d.product_key,
            "deviceKey": d.device_key, "secureMode": "2",
            "sign": sha256(&format!("{}{s}", content(d)))})
        };
        gw.ask(
            "combine/login/batch",
            "combine.login.batch",
            json!({"clientId": "login.batch",
            "timestamp": "1.5", "signMethod": "hmacsha256",
            "subDevices": [entry(&sub1, secrets[0]), entry(&sub2, secrets[1])]}),
        )
    };
    let (code, message) = batch_login([&secret(service, SUB1), "wrong"]);
    assert_eq!(code, 742);
    assert_eq!(message, "SubPrd&sub-002 has error: Sign check failed;");
    let (code, data) = batch_login([&secret(service, SUB1), &secret(service, SUB2)]);
    assert_eq!(code, 200);
    assert_eq!(data["failedSubDevices"], json!([]));
    assert_eq!(data["loginedSubDevices"][1]["assetId"], SUB2);

    // Logout: offline again, and removable; a session's end logs out the rest.
    let logout = json!({"productKey": "SubPrd", "deviceKey": "sub-001"});
    let other = device(service, GATEWAY, 2);
    assert_eq!(
        other
            .ask("combine/logout", "combine.logout", logout.clone())
            .0,
        200
    );
    assert_eq!(
        service.session_of_sub_device(SUB1),
        Some(1),
        "another session's logout"
    );
    assert_eq!(gw.ask("combine/logout", "combine.logout", logout).0, 200);
    assert_eq!(post(&sub1, json!({"temperature": 1})).0, 1009);
    assert_eq!(remove(&sub1).0, 200);
    assert_eq!(service.logged_in_through(1), vec![sub2.clone()]);
    service.session_closed(1);
    assert!(service.logged_in_through(1).is_empty());
    assert_eq!(service.session_of_sub_device(SUB2), None);
}

#[tokio::test]
async fn topics_outside_the_sessions_devices_are_refused() {
    let mock = MockServer::builder().start().await.unwrap();
    let service = mock.service();
    let gw = device(service, GATEWAY, 1);
    let view = gw.view();
    for topic in [
        "/sys/BiDiProd/meter-001/thing/measurepoint/post",
        "/elsewhere",
        "/sys/SubPrd/sub-001/x",
    ] {
        assert!(service.address(&view, topic).is_err(), "{topic}");
    }
    assert!(service
        .may_subscribe(&view, "/sys/SubPrd/sub-001/#")
        .is_err());
    assert_eq!(
        service.may_subscribe(&view, "/sys/PlainPrd/gateway-001/#"),
        Ok(())
    );
    // The device's answer to a command is not a request.
    assert_eq!(
        service.address(
            &view,
            "/sys/PlainPrd/gateway-001/thing/service/measurepoint/set_reply"
        ),
        Ok(Addressed::CommandReply {
            speaker: gw.names.clone()
        })
    );
}

#[tokio::test]
async fn connect_follows_the_refusal_table_and_activates_dynamically() {
    let mock = MockServer::builder().start().await.unwrap();
    let service = mock.service();
    let login = |pk: &str, dk: &str, mode: &str, secret: &str| {
        let content = format!("clientId{dk}deviceKey{dk}productKey{pk}timestamp1{secret}");
        parse(
            &format!("{dk}|securemode={mode},signmethod=hmacsha256,timestamp=1|"),
            Some(&format!("{dk}&{pk}")),
            Some(sha256(&content).as_bytes()),
        )
        .unwrap()
    };
    let decide = |l: &Login| {
        service.device_login(&LoginRequest {
            login: Ok(l),
            secure: false,
            cert: None,
        })
    };
    let gw_secret = secret(service, GATEWAY);
    let ok = decide(&login("PlainPrd", "gateway-001", "2", &gw_secret)).unwrap();
    assert_eq!(ok.device.asset_id, GATEWAY);
    assert!(ok.activation.is_none());
    for (l, refusal, kind) in [
        (
            login("PlainPrd", "gateway-001", "2", "wrong"),
            "the password does not match the secret",
            RefusalKind::BadCredentials,
        ),
        (
            login("PlainPrd", "nobody", "2", &gw_secret),
            "no such device",
            RefusalKind::BadCredentials,
        ),
        (
            login("PlainPrd", "gateway-001", "4", &gw_secret),
            "securemode=4 is not served: 2 (device secret) and 3 (dynamic activation) are",
            RefusalKind::NotAuthorised,
        ),
        (
            login("PlainPrd", "gateway-001", "1", &gw_secret),
            "securemode=1 is not served: 2 (device secret) and 3 (dynamic activation) are",
            RefusalKind::NotAuthorised,
        ),
        (
            login("DynPrd", "dyn-001", "3", "wrong"),
            "the password does not match the product secret (securemode=3)",
            RefusalKind::BadCredentials,
        ),
        (
            login("DynPrd", "dyn-001", "3", &secret(service, DYNAMIC)),
            "the password does not match the product secret (securemode=3)",
            RefusalKind::BadCredentials,
        ),
    ] {
        let e = decide(&l).unwrap_err();
        assert_eq!((e.to_string().as_str(), e.kind()), (refusal, kind));
    }
    // A product without dynamic activation, signed with its own product secret: 5.
    let plain_secret = service
        .store
        .device_with_product(&DeviceId::AssetId(GATEWAY.into()))
        .unwrap()
        .1
        .product_secret;
    let e = decide(&login("PlainPrd", "gateway-001", "3", &plain_secret)).unwrap_err();
    assert_eq!(e, LoginRefusal::DynamicActivationOff);
    assert_eq!(e.kind(), RefusalKind::NotAuthorised);
    // Dynamic activation: the product secret gets in and the device secret is pushed.
    let grant = decide(&login("DynPrd", "dyn-001", "3", "DynPrdSecret2026")).unwrap();
    let (topic, payload) = grant.activation.unwrap();
    assert_eq!(topic, "/ext/session/DynPrd/dyn-001/thing/activate/info");
    assert_eq!(payload["method"], "thing.activate.info");
    assert_eq!(payload["params"]["deviceSecret"], secret(service, DYNAMIC));
    assert_eq!(payload["params"]["assetId"], DYNAMIC);
    // Bi-directional product over plain TCP: 5.
    let meter = names(service, METER);
    let e = decide(&login(
        "BiDiProd",
        &meter.device_key,
        "2",
        &secret(service, METER),
    ))
    .unwrap_err();
    assert_eq!(e, LoginRefusal::BiDirectionalOverPlain);
}

#[tokio::test]
async fn sub_device_rules_for_dynamic_activation_and_certificates() {
    let mock = MockServer::builder().start().await.unwrap();
    let service = mock.service();
    let gw = device(service, GATEWAY, 1);
    // DynPrd and BiDiProd devices in the gateway's topology.
    for asset in [DYNAMIC, METER] {
        let d = names(service, asset);
        let add = gw.ask(
            "thing/topo/add",
            "thing.topo.add",
            json!([sub_login(&d, &secret(service, asset), "2")]),
        );
        assert_eq!(add.0, 200, "{add:?}");
    }
    let dynamic = names(service, DYNAMIC);
    let (code, data) = gw.ask(
        "combine/login",
        "combine.login",
        sub_login(&dynamic, "DynPrdSecret2026", "3"),
    );
    assert_eq!(code, 200);
    assert_eq!(data["deviceSecret"], secret(service, DYNAMIC));
    // A sub-device of a product without dynamic activation: 770.
    let meter = names(service, METER);
    assert_eq!(
        gw.ask(
            "combine/login",
            "combine.login",
            sub_login(&meter, "x", "3")
        )
        .0,
        770
    );
    // A bi-directional product's sub-device through a plain session: 746.
    assert_eq!(
        gw.ask(
            "combine/login",
            "combine.login",
            sub_login(&meter, &secret(service, METER), "2")
        )
        .0,
        746
    );
}
