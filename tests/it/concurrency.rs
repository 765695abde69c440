//! Concurrency: B6 (two renews of one certificate, exactly one wins), serial
//! uniqueness under load, and the B5 conflict checks under races.
//! CSRs are made before the requests are fired, so the requests really overlap.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::common::contract::*;
use crate::common::judge::*;
use crate::common::*;
use futures::future::join_all;
use serde_json::{json, Value};

/// Fires every (assetId, action, body) at once and returns the envelopes in order.
async fn fire(mock: &Mock, calls: Vec<(&str, &str, Value)>) -> Vec<Value> {
    join_all(
        calls
            .into_iter()
            .map(|(asset_id, action, body)| async move { mock.cert(action, asset_id, body).await }),
    )
    .await
}

fn serial_of(row: &Value) -> u64 {
    row["certSN"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_renews_of_one_certificate_exactly_one_wins() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let csrs = par(5, |round| rsa_csr(&format!("renew-race-{round}")));
    for (round, csr) in csrs.iter().enumerate() {
        let r = mock.cert("apply", DEV1, json!({ "csr": csr })).await;
        assert_eq!(r["code"], 0, "{r}");
        let old = sn(&r["data"]);
        let old_cert = r["data"]["cert"].as_str().unwrap().to_string();

        let answers = fire(
            &mock,
            (0..32)
                .map(|_| (DEV1, "renew", json!({ "certSn": old })))
                .collect(),
        )
        .await;

        let winners: Vec<&Value> = answers.iter().filter(|r| r["code"] == 0).collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one renew succeeds: {answers:?}"
        );
        for r in answers.iter().filter(|r| r["code"] != 0) {
            assert_row(r, &CERT_REVOKED);
        }
        let new = &winners[0]["data"];
        let new_sn = sn(new);
        assert!(new_sn > old, "round {round}");
        let new_cert = new["cert"].as_str().unwrap();
        assert_eq!(cert_serial(new_cert), new_sn);
        assert_eq!(cert_pubkey(new_cert), cert_pubkey(&old_cert));

        let list = mock.list(DEV1).await;
        let old_row = row(&list, old);
        assert_eq!(old_row["certStatus"], 1, "round {round}: {old_row}");
        assert_eq!(old_row["revoker"], "IoT_Hub");
        assert_eq!(old_row["revokerReason"], "SUPERSEDED");
        assert_eq!(row(&list, new_sn)["certStatus"], 0);
        // One winner means one new certificate: two per round so far.
        assert_eq!(list.len(), 2 * (round + 1), "round {round}: {list:?}");
        let valid = list.iter().filter(|r| r["certStatus"] == 0).count();
        assert_eq!(valid, round + 1, "round {round}");
    }
    // The CRL names each superseded certificate once.
    let crl = parse_crl(&mock.get_bytes("/enos/CA/crl/RSA").await, "DER");
    assert_eq!(crl.entries.len(), 5, "{crl:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_applies_get_distinct_serials_and_land_on_their_devices() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    let devices = [DEV1, DEV2, DEV3];
    let csrs = par(64, |i| rsa_csr(&format!("load-{i}")));
    let calls: Vec<(&str, &str, Value)> = csrs
        .iter()
        .enumerate()
        .map(|(i, csr)| (devices[i % 3], "apply", json!({ "csr": csr })))
        .collect();
    let answers = fire(&mock, calls).await;

    let mut serials = HashSet::new();
    let mut by_device: HashMap<&str, BTreeSet<u64>> = HashMap::new();
    let root = mock.root("RSA").await;
    for (i, r) in answers.iter().enumerate() {
        assert_eq!(r["code"], 0, "apply {i}: {r}");
        let data = &r["data"];
        let serial = sn(data);
        assert!(serials.insert(serial), "serial {serial} issued twice");
        by_device.entry(devices[i % 3]).or_default().insert(serial);
        let cert = data["cert"].as_str().unwrap();
        assert_eq!(cert_serial(cert), serial, "apply {i}");
        assert!(
            cert_subject(cert).contains(&format!("CN = load-{i},")),
            "apply {i} certifies its own CSR"
        );
    }
    assert_eq!(serials.len(), 64);
    // Spot-check signatures on a few of them.
    for r in answers.iter().step_by(16) {
        verify(&root, r["data"]["cert"].as_str().unwrap()).unwrap();
    }

    for device in devices {
        let list = mock.list(device).await;
        let listed: Vec<u64> = list.iter().map(serial_of).collect();
        let expected: Vec<u64> = by_device[device].iter().copied().collect();
        assert_eq!(
            listed, expected,
            "{device} lists exactly its certificates, ascending"
        );
        assert!(list.iter().all(|r| r["certStatus"] == 0));
    }
    let health = mock.get_json("/__admin/health").await;
    assert_eq!(health["counts"]["certificates"], 64, "{health}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_applies_of_one_cn_on_different_devices_exactly_one_wins() {
    let mock = Mock::start().await;
    let devices = [DEV1, DEV2, DEV3];
    const ROUNDS: usize = 3;
    const PER_ROUND: usize = 12;
    let csrs = par(ROUNDS * PER_ROUND, |i| {
        rsa_csr(&format!("shared-cn-{}", i / PER_ROUND))
    });
    for round in 0..ROUNDS {
        let calls: Vec<(&str, &str, Value)> = (0..PER_ROUND)
            .map(|j| {
                (
                    devices[j % 3],
                    "apply",
                    json!({ "csr": csrs[round * PER_ROUND + j] }),
                )
            })
            .collect();
        let answers = fire(&mock, calls).await;
        let winners: Vec<usize> = (0..PER_ROUND)
            .filter(|j| answers[*j]["code"] == 0)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "round {round}: exactly one apply of the CN succeeds: {answers:?}"
        );
        for (j, r) in answers.iter().enumerate() {
            if j != winners[0] {
                assert_error_prefix(r, 99400, DUPLICATE_SUBJECT.prefix());
            }
        }
        let winner_device = devices[winners[0] % 3];
        let serial = sn(&answers[winners[0]]["data"]);
        for device in devices {
            let holders: Vec<Value> = mock
                .list(device)
                .await
                .into_iter()
                .filter(|r| {
                    r["subject"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("CN=shared-cn-{round},"))
                })
                .collect();
            if device == winner_device {
                assert_eq!(holders.len(), 1, "{device}: {holders:?}");
                assert_eq!(serial_of(&holders[0]), serial);
            } else {
                assert!(holders.is_empty(), "{device}: {holders:?}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_applies_of_one_key_on_two_devices_bind_it_once() {
    require_tool!("openssl");
    let mock = Mock::start().await;
    const KEYS: usize = 8;
    // For each key, one CSR for DEV1 and one for DEV2, with different CNs.
    let prepared = par(KEYS, |k| {
        let dir = tmp();
        let key_path = key(dir.path(), "rsa:2048");
        let a = csr_for_key(&key_path, &subject(&format!("same-key-{k}-a")), "sha256");
        let b = csr_for_key(&key_path, &subject(&format!("same-key-{k}-b")), "sha256");
        let pubkey = csr_pubkey(&a);
        (a, b, pubkey)
    });
    let mut calls: Vec<(&str, &str, Value)> = Vec::new();
    for (a, b, _) in &prepared {
        calls.push((DEV1, "apply", json!({ "csr": a })));
        calls.push((DEV2, "apply", json!({ "csr": b })));
    }
    let answers = fire(&mock, calls).await;

    let mut won: HashMap<&str, Vec<String>> = HashMap::new();
    for (k, (_, _, pubkey)) in prepared.iter().enumerate() {
        let (on_dev1, on_dev2) = (&answers[2 * k], &answers[2 * k + 1]);
        let (winner, loser, device) = match (on_dev1["code"] == 0, on_dev2["code"] == 0) {
            (true, false) => (on_dev1, on_dev2, DEV1),
            (false, true) => (on_dev2, on_dev1, DEV2),
            _ => panic!("key {k}: exactly one device gets it: {on_dev1} / {on_dev2}"),
        };
        assert_row(loser, &CERT_BOUND_ELSEWHERE);
        assert_eq!(
            &cert_pubkey(winner["data"]["cert"].as_str().unwrap()),
            pubkey
        );
        won.entry(device).or_default().push(pubkey.clone());
    }

    let mut total = 0;
    for device in [DEV1, DEV2] {
        let list = mock.list(device).await;
        total += list.len();
        let mut keys: Vec<String> = list
            .iter()
            .map(|r| cert_pubkey(r["cert"].as_str().unwrap()))
            .collect();
        let mut expected = won.remove(device).unwrap_or_default();
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected, "{device} holds exactly the keys it won");
    }
    assert_eq!(total, KEYS, "each key is bound exactly once");
}
