//! The store's main behaviours, without HTTP or crypto: certificates are plain records.

use std::sync::Arc;

use super::*;
use crate::domain::fixtures::Fixtures;
use crate::domain::model::{Authority, CertStatus, RevocationReason};
use crate::domain::model::{DeviceNames, Revocation};
use crate::domain::Serial;

const YEAR_MS: i64 = 365 * 86_400_000;

/// Org o1 with products p1 and p2, devices a1 (d1) and a2 (d2) in p1; org o2 empty.
fn loaded() -> Loaded {
    Fixtures::parse(
        r#"{"orgs": [{"orgId": "o1"}, {"orgId": "o2"}],
            "products": [{"orgId": "o1", "productKey": "p1", "biDirectionalAuth": true},
                         {"orgId": "o1", "productKey": "p2", "biDirectionalAuth": true}],
            "devices": [{"assetId": "a1", "productKey": "p1", "deviceKey": "d1"},
                        {"assetId": "a2", "productKey": "p1", "deviceKey": "d2"}]}"#,
    )
    .unwrap()
    .load(0)
    .unwrap()
}

fn store() -> Store {
    Store::new(&loaded(), Serial::new(100))
}

fn by_asset(a: &str) -> DeviceId {
    DeviceId::AssetId(a.into())
}

fn by_keys(p: &str, d: &str) -> DeviceId {
    DeviceId::Keys {
        product_key: p.into(),
        device_key: d.into(),
    }
}

fn revocation(at_ms: i64) -> Revocation {
    Revocation {
        at_ms,
        reason: RevocationReason::KeyCompromise,
        revoker: "app".into(),
    }
}

fn record(serial: Serial, asset_id: &Arc<str>, cn: &Arc<str>, key: &Arc<[u8]>) -> CertRecord {
    CertRecord {
        serial,
        asset_id: asset_id.clone(),
        authority: Authority::Rsa,
        pem: Arc::from(""),
        issuer: Arc::from("CN=root"),
        subject: Arc::from(format!("CN={cn}")),
        common_name: cn.clone(),
        public_key: key.clone(),
        sign_date_ms: 0,
        not_before_ms: 0,
        not_after_ms: YEAR_MS,
        revocation: None,
    }
}

/// Reserves, then commits, an RSA certificate for `key` with CN `cn` on `asset_id`.
fn issue(store: &Store, asset_id: &str, cn: &str, key: &[u8]) -> Result<Serial, EnosError> {
    let (asset_id, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from(asset_id), Arc::from(cn), Arc::from(key));
    let reservation = store.reserve(check(&asset_id, &cn, &key, true), 0)?;
    let serial = reservation.serial;
    store.commit(&reservation, record(serial, &asset_id, &cn, &key), None)?;
    Ok(serial)
}

fn check<'a>(
    asset_id: &'a Arc<str>,
    cn: &'a Arc<str>,
    key: &'a Arc<[u8]>,
    unique_subject: bool,
) -> IssueCheck<'a> {
    IssueCheck {
        asset_id,
        authority: Authority::Rsa,
        common_name: cn,
        public_key: key,
        unique_subject,
    }
}

#[test]
fn reserve_then_commit_binds_the_certificate() {
    let s = store();
    let serial = issue(&s, "a1", "dev1", &[1]).unwrap();
    assert_eq!(serial, Serial::new(100));
    assert_eq!(s.bound_cert("a1", serial).unwrap().serial, serial);
    assert_eq!(
        s.bound_cert("a2", serial).unwrap_err().key,
        ErrorKey::CertNotBound
    );
    let certs = s.device_certs("a1");
    assert_eq!(
        certs.iter().map(|c| c.serial).collect::<Vec<_>>(),
        [Serial::new(100)]
    );
    assert!(s.device_certs("a2").is_empty());
    assert_eq!(
        issue(&s, "a1", "dev1-again", &[1]).unwrap(),
        Serial::new(101)
    );
    assert_eq!(s.counts().certificates, 2);
}

#[test]
fn a_reservation_holds_its_key_and_cn_until_released() {
    let s = store();
    let (a1, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from("a1"), Arc::from("dev"), Arc::from(&[7u8][..]));
    let reservation = s.reserve(check(&a1, &cn, &key, true), 0).unwrap();
    assert_eq!(
        issue(&s, "a2", "other", &[7]).unwrap_err().key,
        ErrorKey::CertBoundElsewhere
    );
    assert_eq!(
        issue(&s, "a2", "dev", &[8]).unwrap_err().key,
        ErrorKey::DuplicateSubject
    );
    s.release(&reservation);
    assert!(issue(&s, "a2", "dev", &[7]).is_ok());
    // A released serial is not reused.
    assert!(s.bound_cert("a1", reservation.serial).is_err());
    assert_eq!(s.device_certs("a2")[0].serial, reservation.serial.plus(1));
}

#[test]
fn renew_may_keep_its_cn_but_not_take_another_devices_key() {
    let s = store();
    issue(&s, "a1", "dev", &[1]).unwrap();
    let (a2, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from("a2"), Arc::from("dev"), Arc::from(&[2u8][..]));
    assert!(s.reserve(check(&a2, &cn, &key, false), 0).is_ok());
    let stolen: Arc<[u8]> = Arc::from(&[1u8][..]);
    assert_eq!(
        s.reserve(check(&a2, &cn, &stolen, false), 0)
            .unwrap_err()
            .key,
        ErrorKey::CertBoundElsewhere
    );
}

#[test]
fn expired_certificates_do_not_conflict() {
    let s = store();
    issue(&s, "a1", "dev", &[1]).unwrap();
    let (a2, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from("a2"), Arc::from("dev"), Arc::from(&[1u8][..]));
    assert!(s.reserve(check(&a2, &cn, &key, true), YEAR_MS - 1).is_err());
    assert!(s.reserve(check(&a2, &cn, &key, true), YEAR_MS).is_ok());
}

#[test]
fn commit_after_the_device_went_away_releases_the_reservation() {
    let s = store();
    let (a1, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from("a1"), Arc::from("dev"), Arc::from(&[1u8][..]));
    let reservation = s.reserve(check(&a1, &cn, &key, true), 0).unwrap();
    s.delete_device("o1", &by_asset("a1"), revocation(0))
        .unwrap();
    let cert = record(reservation.serial, &a1, &cn, &key);
    assert_eq!(
        s.commit(&reservation, cert, None).unwrap_err().key,
        ErrorKey::DeviceNotFound
    );
    assert!(issue(&s, "a2", "dev", &[1]).is_ok());
    assert_eq!(s.counts().certificates, 1);
}

#[test]
fn revoke_frees_the_key_and_feeds_the_crl_once() {
    let s = store();
    let serial = issue(&s, "a1", "dev", &[1]).unwrap();
    let generation = s.crl_generation();
    s.revoke(serial, revocation(5));
    assert_eq!(s.crl_generation(), generation + 1);
    let (crl_generation, entries) = s.revoked(Authority::Rsa);
    assert_eq!(crl_generation, generation + 1);
    assert_eq!(entries.len(), 1);
    assert_eq!(
        (entries[0].serial, &entries[0].revocation),
        (serial, &revocation(5))
    );
    assert!(s.revoked(Authority::Ecc).1.is_empty());
    // A second revocation changes nothing.
    s.revoke(serial, revocation(9));
    assert_eq!(s.crl_generation(), generation + 1);
    assert_eq!(s.revoked(Authority::Rsa).1[0].revocation.at_ms, 5);
    assert_eq!(s.counts().revoked, 1);
    // The key and the CN are free again.
    assert!(issue(&s, "a2", "dev", &[1]).is_ok());
}

#[test]
fn commit_with_supersede_revokes_the_old_certificate() {
    let s = store();
    let old = issue(&s, "a1", "dev", &[1]).unwrap();
    let (a1, cn, key): (Arc<str>, Arc<str>, Arc<[u8]>) =
        (Arc::from("a1"), Arc::from("dev"), Arc::from(&[1u8][..]));
    let reservation = s.reserve(check(&a1, &cn, &key, false), 0).unwrap();
    let cert = record(reservation.serial, &a1, &cn, &key);
    s.commit(&reservation, cert, Some((old, revocation(3))))
        .unwrap();
    let certs = s.device_certs("a1");
    assert_eq!(certs.len(), 2);
    assert_eq!(certs[0].status(0), CertStatus::Revoked);
    assert_eq!(certs[1].status(0), CertStatus::Valid);
    assert_eq!(s.revoked(Authority::Rsa).1[0].serial, old);
}

#[test]
fn devices_are_found_by_either_id_within_their_org() {
    let s = store();
    for id in [by_asset("a1"), by_keys("p1", "d1")] {
        assert_eq!(s.device("o1", &id).unwrap().asset_id, "a1");
        assert_eq!(
            s.device_context("o1", &id).unwrap().product.product_key,
            "p1"
        );
        assert_eq!(
            s.device_names(&id).unwrap(),
            DeviceNames {
                asset_id: "a1".into(),
                product_key: "p1".into(),
                device_key: "d1".into(),
            }
        );
        assert_eq!(
            s.device("o2", &id).unwrap_err().key,
            ErrorKey::DeviceNotFound
        );
        assert_eq!(s.device("nope", &id).unwrap_err().key, ErrorKey::OrgUnknown);
    }
    for id in [by_asset("zz"), by_keys("p1", "zz"), by_keys("p2", "d1")] {
        assert_eq!(
            s.device("o1", &id).unwrap_err().key,
            ErrorKey::DeviceNotFound
        );
        assert!(s.device_names(&id).is_none());
    }
}

#[test]
fn delete_device_revokes_its_valid_certificates_and_frees_its_keys() {
    let s = store();
    let first = issue(&s, "a1", "dev", &[1]).unwrap();
    let second = issue(&s, "a1", "dev-b", &[2]).unwrap();
    s.revoke(first, revocation(1));
    let revoked = s
        .delete_device("o1", &by_keys("p1", "d1"), revocation(2))
        .unwrap();
    assert_eq!(revoked, [second]);
    assert_eq!(s.counts().devices, 1);
    assert!(s.device_key_free("p1", "d1"));
    assert!(issue(&s, "a2", "dev-b", &[2]).is_ok());
    // Its certificates stay on the CRL.
    assert_eq!(s.revoked(Authority::Rsa).1.len(), 2);
}

#[tokio::test]
async fn a_device_lock_finds_the_device_gone_after_a_reset() {
    let s = store();
    let ctx = s.device_context("o1", &by_asset("a1")).unwrap();
    drop(ctx.lock(&s).await.unwrap());
    s.reset(&loaded());
    assert_eq!(
        ctx.lock(&s).await.unwrap_err().key,
        ErrorKey::DeviceNotFound
    );
}

fn bulk_device(asset_id: &str, device_key: &str) -> Device {
    let mut d = loaded().devices.remove(0);
    d.asset_id = asset_id.into();
    d.device_key = device_key.into();
    d
}

#[test]
fn bulk_insert_adds_devices_and_indexes_their_certificates() {
    let s = store();
    let first = s.allocate_serials(2);
    assert_eq!(first, Serial::new(100));
    let (b0, b1): (Arc<str>, Arc<str>) = (Arc::from("b0"), Arc::from("b1"));
    let certs = vec![
        record(first, &b0, &b0, &Arc::from(&[10u8][..])),
        record(first.plus(1), &b1, &b1, &Arc::from(&[11u8][..])),
    ];
    s.insert_bulk(
        vec![bulk_device("b0", "b0"), bulk_device("b1", "b1")],
        certs,
    )
    .unwrap();
    assert_eq!(s.counts().devices, 4);
    assert_eq!(s.device("o1", &by_keys("p1", "b1")).unwrap().asset_id, "b1");
    assert_eq!(
        s.bound_cert("b1", first.plus(1)).unwrap().serial,
        first.plus(1)
    );
    assert_eq!(
        issue(&s, "a1", "x", &[10]).unwrap_err().key,
        ErrorKey::CertBoundElsewhere
    );
    assert_eq!(
        issue(&s, "a1", "b1", &[12]).unwrap_err().key,
        ErrorKey::DuplicateSubject
    );
    assert_eq!(issue(&s, "a1", "fresh", &[12]).unwrap(), Serial::new(102));
}

#[test]
fn bulk_insert_is_refused_whole_when_a_name_is_taken() {
    let s = store();
    for (asset_id, device_key) in [("a1", "new"), ("new", "d1")] {
        let err = s
            .insert_bulk(
                vec![bulk_device("b0", "b0"), bulk_device(asset_id, device_key)],
                Vec::new(),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("device {asset_id} ({device_key}) already exists")
        );
        assert_eq!(s.counts().devices, 2);
    }
}

#[test]
fn reset_returns_to_the_fixtures_but_serials_keep_counting() {
    let s = store();
    issue(&s, "a1", "dev", &[1]).unwrap();
    s.delete_device("o1", &by_asset("a2"), revocation(0))
        .unwrap();
    let generation = s.crl_generation();
    s.reset(&loaded());
    assert_eq!(s.counts().devices, 2);
    assert_eq!(s.counts().certificates, 0);
    assert!(s.device_certs("a1").is_empty());
    assert_eq!(s.crl_generation(), generation + 1);
    assert_eq!(issue(&s, "a2", "dev", &[1]).unwrap(), Serial::new(101));
}

#[test]
fn products_with_devices_cannot_be_deleted() {
    let s = store();
    let e = s.delete_product("o1", "p1").unwrap_err();
    assert_eq!(e.key, ErrorKey::ProductHasDevices);
    assert!(e.msg.contains("still has 2 device(s)"), "{}", e.msg);
    assert!(s.delete_product("o1", "p2").is_ok());
    assert_eq!(
        s.delete_product("o1", "p2").unwrap_err().key,
        ErrorKey::ProductNotFound
    );
}

#[test]
fn runs_without_first_serial_start_apart_and_below_2_pow_31() {
    let starts: Vec<Serial> = (0..1000).map(|_| random_first_serial()).collect();
    assert!(starts
        .iter()
        .all(|&s| (Serial::new(1_000_000)..SERIAL_LIMIT).contains(&s)));
    assert_eq!(SERIAL_LIMIT, Serial::new(2_147_483_648));
    let mut distinct = starts.clone();
    distinct.sort_unstable();
    distinct.dedup();
    // Two starts are equal with a chance of about 1 in 2 * 10^9 per pair.
    assert!(distinct.len() >= 999, "{} distinct of 1000", distinct.len());
    let (a, b) = (
        Store::new(&loaded(), starts[0]),
        Store::new(&loaded(), starts[1]),
    );
    assert_ne!(
        issue(&a, "a1", "cn-a", b"ka").unwrap(),
        issue(&b, "a1", "cn-a", b"ka").unwrap()
    );
}

#[test]
fn no_serial_reaches_2_pow_31() {
    let s = Store::new(&loaded(), Serial::new(SERIAL_LIMIT.get() - 1));
    assert_eq!(
        issue(&s, "a1", "cn-1", b"k1").unwrap(),
        Serial::new(SERIAL_LIMIT.get() - 1)
    );
    let e = issue(&s, "a2", "cn-2", b"k2").unwrap_err();
    assert_eq!(e.key, ErrorKey::CertServiceInternal);
}
