//! The writer and the way back, without HTTP: a store attached to a file, changed,
//! then restored from the file alone.

use std::sync::Arc;

use super::*;
use crate::domain::fixtures::{Fixtures, Loaded};
use crate::domain::model::{
    Authority, CertRecord, Device, DeviceId, Revocation, RevocationReason, DEVICE_INACTIVE,
};
use crate::domain::store::Store;

fn owners() -> Owners {
    ["AA:01".to_string(), "BB:02".to_string()]
}

fn loaded() -> Loaded {
    Fixtures::parse(
        r#"{"orgs": [{"orgId": "o1"}],
            "products": [{"orgId": "o1", "productKey": "p1", "biDirectionalAuth": true}],
            "devices": [{"assetId": "a1", "productKey": "p1", "deviceKey": "d1"}]}"#,
    )
    .unwrap()
    .load(0)
    .unwrap()
}

fn device(asset_id: &str) -> Device {
    let mut d = loaded().devices.remove(0);
    d.asset_id = asset_id.into();
    d.device_key = asset_id.into();
    d.status = DEVICE_INACTIVE;
    d
}

fn sn(n: u64) -> Serial {
    Serial::new(n)
}

fn cert(serial: u64, asset_id: &str, authority: Authority) -> CertRecord {
    CertRecord {
        serial: sn(serial),
        asset_id: Arc::from(asset_id),
        authority,
        pem: Arc::from(format!("PEM {serial}")),
        issuer: Arc::from("CN=root"),
        subject: Arc::from(format!("CN=c{serial}")),
        common_name: Arc::from(format!("c{serial}")),
        public_key: Arc::from(serial.to_be_bytes().to_vec()),
        sign_date_ms: 1,
        not_before_ms: 2,
        not_after_ms: i64::MAX / 2,
        revocation: None,
    }
}

fn revocation() -> Revocation {
    Revocation {
        at_ms: 7,
        reason: RevocationReason::KeyCompromise,
        revoker: "app".into(),
    }
}

/// A new file seeded from the fixtures, its writer running, attached to a store.
fn attached(path: &Path) -> (Store, Arc<Persist>) {
    let mut file = StateFile::open_for(path, &owners()).unwrap();
    assert!(
        file.take_snapshot().is_none(),
        "a new file has nothing to restore"
    );
    let mut store = Store::new(&loaded(), sn(100));
    file.seed_for(&owners(), &store.as_changes()).unwrap();
    let persist = file.start().unwrap();
    store.attach(persist.clone());
    (store, persist)
}

/// The store a restart makes from the file, and the file, ready to start its writer.
fn reopened(path: &Path) -> (Store, StateFile) {
    let mut file = StateFile::open_for(path, &owners()).unwrap();
    let store = Store::restore(file.take_snapshot().expect("a seeded file has a snapshot"));
    (store, file)
}

fn restored(path: &Path) -> Store {
    reopened(path).0
}

#[tokio::test]
async fn what_was_saved_comes_back_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, persist) = attached(&path);
    store
        .insert_bulk(
            vec![device("a2"), device("a3")],
            vec![
                cert(100, "a1", Authority::Rsa),
                cert(101, "a2", Authority::Ecc),
                cert(102, "a3", Authority::Rsa),
            ],
        )
        .unwrap();
    store.revoke(sn(102), revocation());
    store.revoke(sn(100), revocation());
    let by_asset = DeviceId::AssetId("a2".into());
    let mut deleted = revocation();
    deleted.reason = RevocationReason::CessationOfOperation;
    assert_eq!(
        store.delete_device("o1", &by_asset, deleted).unwrap(),
        [sn(101)]
    );
    persist.saved().await.unwrap();
    persist.close().await;

    let back = restored(&path);
    assert_eq!(
        format!("{:?}", back.counts()),
        format!("{:?}", store.counts())
    );
    assert_eq!(back.device_certs("a1").len(), 1);
    assert!(back.device_certs("a2").is_empty(), "a2 was deleted");
    let conn = rusqlite::Connection::open(&path).unwrap();
    let bound = |serial: i64| -> i64 {
        conn.query_row("SELECT bound FROM certs WHERE serial = ?1", [serial], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(
        (bound(100), bound(101)),
        (1, 0),
        "only a2's certificate is unbound"
    );
    let rsa: Vec<u64> = back
        .revoked(Authority::Rsa)
        .1
        .iter()
        .map(|e| e.serial.get())
        .collect();
    assert_eq!(rsa, [102, 100], "CRL order is revocation order");
    let ecc = back.revoked(Authority::Ecc).1;
    assert_eq!(
        ecc[0].revocation.reason,
        RevocationReason::CessationOfOperation
    );
    let c = back.cert(sn(102)).unwrap();
    assert_eq!(
        (&*c.pem, &*c.subject, c.not_after_ms),
        ("PEM 102", "CN=c102", i64::MAX / 2)
    );
    assert_eq!(back.next_serial(), sn(103), "never below a stored serial");
}

/// A PEM certificate the way the CA writes it.
fn real_pem() -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["kept".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    crate::ca::cert_pem(cert.der())
}

fn cert_column_type(path: &Path, serial: i64) -> String {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT typeof(cert) FROM certs WHERE serial = ?1",
            [serial],
            |r| r.get(0),
        )
        .unwrap()
}

/// A new file at `path` holding `certs`, written and closed.
async fn file_holding(path: &Path, certs: Vec<CertRecord>) {
    let (store, persist) = attached(path);
    store.insert_bulk(vec![], certs).unwrap();
    persist.saved().await.unwrap();
    persist.close().await;
}

#[tokio::test]
async fn a_certificate_is_kept_as_der_and_comes_back_as_the_same_pem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let pem = real_pem();
    let mut issued = cert(100, "a1", Authority::Ecc);
    issued.pem = Arc::from(pem.as_str());
    file_holding(&path, vec![issued]).await;

    assert_eq!(cert_column_type(&path, 100), "blob");
    assert_eq!(&*restored(&path).cert(sn(100)).unwrap().pem, pem);
}

#[tokio::test]
async fn serials_stay_ahead_of_every_stored_certificate_across_restarts_and_resets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, persist) = attached(&path);
    // Issued one by one, as applies are: the counter's row is not written for these.
    for serial in 100..103 {
        store
            .insert_bulk(vec![], vec![cert(serial, "a1", Authority::Rsa)])
            .unwrap();
    }
    persist.saved().await.unwrap();
    persist.close().await;

    // A second run resets before issuing anything: the file must still know 102 was taken.
    let (mut store, file) = reopened(&path);
    assert_eq!(store.next_serial(), sn(103));
    let persist = file.start().unwrap();
    store.attach(persist.clone());
    store.reset(&loaded());
    persist.saved().await.unwrap();
    persist.close().await;

    let back = restored(&path);
    assert_eq!(back.counts().certificates, 0);
    assert_eq!(
        back.next_serial(),
        sn(103),
        "a serial would be issued twice"
    );
}

#[tokio::test]
async fn a_version_1_file_is_upgraded_and_its_pem_text_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    file_holding(&path, vec![cert(100, "a1", Authority::Rsa)]).await;
    // Back to how version 1 wrote it: the column named pem, PEM text in it, no digests.
    let pem = real_pem();
    let conn = older_version(&path, 1);
    conn.execute_batch("ALTER TABLE certs RENAME COLUMN cert TO pem")
        .unwrap();
    conn.execute("UPDATE certs SET pem = ?1 WHERE serial = 100", [&pem])
        .unwrap();
    drop(conn);

    let back = restored(&path);
    assert_eq!(&*back.cert(sn(100)).unwrap().pem, pem);
    assert_eq!(cert_column_type(&path, 100), "text");
    let version = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION.to_string());
}

/// The file at `path` made to look as `version` wrote it: no digest columns (before 3).
fn older_version(path: &Path, version: u32) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    for table in ["orgs", "products", "devices", "certs", "revocations"] {
        conn.execute_batch(&format!("ALTER TABLE {table} DROP COLUMN digest"))
            .unwrap();
    }
    conn.execute(
        "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
        [version.to_string()],
    )
    .unwrap();
    conn
}

/// A file at `path` holding device a2 and its certificate 100, revoked; closed.
async fn file_with_a_revoked_certificate(path: &Path) {
    let (store, persist) = attached(path);
    store
        .insert_bulk(vec![device("a2")], vec![cert(100, "a2", Authority::Rsa)])
        .unwrap();
    store.revoke(sn(100), revocation());
    persist.saved().await.unwrap();
    persist.close().await;
}

#[tokio::test]
async fn a_version_2_file_gets_a_digest_for_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    file_with_a_revoked_certificate(&path).await;
    drop(older_version(&path, 2));

    let back = restored(&path);
    assert_eq!(back.cert(sn(100)).unwrap().revocation, Some(revocation()));
    let conn = rusqlite::Connection::open(&path).unwrap();
    for table in ["orgs", "products", "devices", "certs", "revocations"] {
        let missing: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE length(digest) IS NOT 16"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(missing, 0, "{table}");
    }
}

/// Bytes changed in a row on disk: each table's, named, refused at start.
#[tokio::test]
async fn a_row_changed_on_disk_is_named_and_refused() {
    // (the change made behind the mock's back, what the refusal names)
    let table = [
        (
            "UPDATE certs SET issuer = 'CN=rooT' WHERE serial = 100",
            "certificate 100",
        ),
        (
            "UPDATE certs SET not_after_ms = 3 WHERE serial = 100",
            "certificate 100",
        ),
        (
            "UPDATE devices SET body = replace(body, 'a2', 'a3') WHERE asset_id = 'a2'",
            "device a2",
        ),
        (
            "UPDATE products SET body = replace(body, 'p1', 'p2')",
            "product p1",
        ),
        ("UPDATE orgs SET body = replace(body, 'o1', 'o2')", "org o1"),
        (
            "UPDATE revocations SET reason = 0",
            "the revocation of certificate 100",
        ),
    ];
    for (change, named) in table {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        file_with_a_revoked_certificate(&path).await;
        let changed = rusqlite::Connection::open(&path)
            .unwrap()
            .execute(change, [])
            .unwrap();
        assert_eq!(changed, 1, "{change}");

        let err = StateFile::open_for(&path, &owners())
            .err()
            .unwrap_or_else(|| panic!("{change}: opened"));
        assert!(matches!(err, StateError::Damaged { .. }), "{change}: {err}");
        assert_eq!(
            err.to_string(),
            format!(
                "state file {}: damaged: these rows do not match the checksum they were \
                 written with: {named}; restore it from a copy, or give another --state file",
                path.display()
            ),
            "{change}"
        );
    }
}

/// A row broken so that it cannot even be read back: the open fails, naming the row.
#[tokio::test]
async fn a_row_that_cannot_be_read_back_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, persist) = attached(&path);
    store.insert_bulk(vec![device("a2")], vec![]).unwrap();
    persist.saved().await.unwrap();
    persist.close().await;
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute("UPDATE devices SET body = '{' WHERE asset_id = 'a2'", [])
        .unwrap();
    let err = StateFile::open_for(&path, &owners()).err().unwrap();
    assert!(
        err.to_string().contains(
            "damaged: these rows do not match the checksum they were written with: device a2;"
        ),
        "{err}"
    );
}

#[test]
fn only_a_group_of_several_changes_makes_the_writer_wait_for_the_next() {
    assert_eq!(writer::linger_after(0), None, "the first change");
    assert_eq!(writer::linger_after(1), None, "a lone client never waits");
    assert!(writer::linger_after(2).is_some());
    assert!(writer::linger_after(40).is_some());
}

#[tokio::test]
async fn reset_clears_the_file_but_keeps_the_serial_counter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (store, persist) = attached(&path);
    let n = store.allocate_serials(5000);
    store
        .insert_bulk(
            vec![device("a2")],
            vec![cert(n.get(), "a2", Authority::Rsa)],
        )
        .unwrap();
    store.reset(&loaded());
    persist.saved().await.unwrap();
    persist.close().await;

    let back = restored(&path);
    assert_eq!(back.counts().devices, 1, "only the fixtures' device");
    assert_eq!(back.counts().certificates, 0);
    assert_eq!(back.next_serial(), n.plus(1));
}

#[tokio::test]
async fn a_failed_write_is_reported_to_every_later_wait() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let mut file = StateFile::open_for(&path, &owners()).unwrap();
    let mut store = Store::new(&loaded(), sn(100));
    file.seed_for(&owners(), &store.as_changes()).unwrap();
    // The file broken before the writer starts: its first revocation fails to be written.
    file.conn.execute_batch("DROP TABLE revocations").unwrap();
    let persist = file.start().unwrap();
    store.attach(persist.clone());
    store
        .insert_bulk(vec![], vec![cert(100, "a1", Authority::Rsa)])
        .unwrap();
    persist.saved().await.unwrap();
    store.revoke(sn(100), revocation());
    let err = persist.saved().await.unwrap_err();
    assert!(matches!(err, SaveError::Write(_)), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("the state file could not be written: "),
        "{err}"
    );
    store
        .insert_bulk(vec![], vec![cert(101, "a1", Authority::Rsa)])
        .unwrap();
    assert!(persist.saved().await.is_err(), "nothing after it either");
    persist.close().await;
}

#[tokio::test]
async fn one_connection_per_file_until_it_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (_store, persist) = attached(&path);
    let second = StateFile::open_for(&path, &owners()).err().unwrap();
    assert!(matches!(second, StateError::InUse { .. }), "{second}");
    assert_eq!(
        second.to_string(),
        format!(
            "state file {}: in use by another process (or another mock in this one); one \
             mock per state file: stop the other one, or give another --state file",
            path.display()
        )
    );
    persist.close().await;
    assert!(StateFile::open_for(&path, &owners()).is_ok(), "released");
}

#[test]
fn other_roots_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (_, persist) = attached(&path);
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(persist.close());
    let other = ["CC:03".to_string(), "BB:02".to_string()];
    let err = StateFile::open_for(&path, &other)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("AA:01") && err.contains("CC:03"), "{err}");
    assert!(err.contains("RSA"), "{err}");
}
