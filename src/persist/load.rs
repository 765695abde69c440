//! Reads a state file back into a [`Snapshot`]: the rows as written, the devices'
//! certificate lists and the CRLs' order rebuilt from them. Every row is checked against
//! the digest it was written with as it is read, the hashing on a thread of its own
//! (`Checker`), so the check adds little to the time the rows take to read.

use foldhash::HashMap;
use std::sync::mpsc;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::digest::{self, RowDigest};
use super::schema::{self, cert_columns, CERT_COLUMNS};
use crate::domain::model::{Authority, CertRecord, Revocation, RevocationReason};
use crate::domain::store::Snapshot;
use crate::domain::Serial;

/// Why the rows could not be read back.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {table}: {source}")]
    Sql {
        table: &'static str,
        source: rusqlite::Error,
    },
    #[error("a row of {table} is broken: {source}")]
    Json {
        table: &'static str,
        source: serde_json::Error,
    },
}

/// An SQLite error of reading `table`.
fn reading(table: &'static str) -> impl Fn(rusqlite::Error) -> LoadError {
    move |source| LoadError::Sql { table, source }
}

/// A row a person would look for: `certificate 422363829`, `device Uvmm5AXU`.
#[derive(Debug)]
enum RowName {
    Keyed(&'static str, String),
    Cert(i64),
    Revocation(i64),
}

impl std::fmt::Display for RowName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowName::Keyed(noun, key) => write!(f, "{noun} {key}"),
            RowName::Cert(serial) => write!(f, "certificate {serial}"),
            RowName::Revocation(serial) => write!(f, "the revocation of certificate {serial}"),
        }
    }
}

/// A row read, its values framed for hashing, and the digest stored beside it (`None`
/// when there is none of the right length).
struct Pending {
    row: RowName,
    framed: RowDigest,
    stored: Option<[u8; digest::LEN]>,
}

/// Rows whose content does not match the digest they were written with, by name.
pub type Damage = Vec<String>;

/// Hands rows to the hashing thread, a batch at a time.
struct Checker {
    batch: Vec<Pending>,
    hasher: mpsc::SyncSender<Vec<Pending>>,
}

/// Rows a batch holds: few enough to keep the hasher busy while the next is read.
const BATCH: usize = 256;

impl Checker {
    fn check(&mut self, row: RowName, framed: RowDigest, stored: ValueRef<'_>) {
        let stored = stored
            .as_blob_or_null()
            .ok()
            .flatten()
            .and_then(|d| d.try_into().ok());
        self.batch.push(Pending {
            row,
            framed,
            stored,
        });
        if self.batch.len() == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        // A hasher gone (it cannot panic) would only leave rows unchecked.
        let _ = self.hasher.send(batch);
    }
}

/// Reads with `read`, checking each row it hands the [`Checker`]; the rows whose digest
/// does not match come back beside what `read` returns.
fn checked<T>(read: impl FnOnce(&mut Checker) -> T) -> (T, Damage) {
    std::thread::scope(|scope| {
        let (to_hasher, batches) = mpsc::sync_channel::<Vec<Pending>>(8);
        let hasher = scope.spawn(move || {
            let mut damage = Damage::new();
            for pending in batches.into_iter().flatten() {
                if !pending
                    .framed
                    .matches(pending.stored.as_ref().map(|d| &d[..]))
                {
                    damage.push(pending.row.to_string());
                }
            }
            damage
        });
        let mut checker = Checker {
            batch: Vec::with_capacity(BATCH),
            hasher: to_hasher,
        };
        let read = read(&mut checker);
        checker.flush();
        drop(checker);
        let damage = hasher
            .join()
            .unwrap_or_else(|_| vec!["(the check of the rows stopped)".to_string()]);
        (read, damage)
    })
}

/// Every row's JSON body. Through `Value`, which any `Deserialize<'static>` accepts
/// (a device's status is a `&'static str`).
fn bodies<T: serde::Deserialize<'static>>(
    conn: &Connection,
    (table, key, noun): (&'static str, &str, &'static str),
    checker: &mut Checker,
) -> Result<Vec<T>, LoadError> {
    let mut stmt = conn
        .prepare(&format!("SELECT {key}, body, digest FROM {table}"))
        .map_err(reading(table))?;
    let mut rows = stmt.query([]).map_err(reading(table))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(reading(table))? {
        let text = |i| {
            let value = row.get_ref(i).map_err(reading(table))?;
            value.as_str().map_err(|e| reading(table)(e.into()))
        };
        let (key, body) = (text(0)?, text(1)?);
        checker.check(
            RowName::Keyed(noun, key.to_string()),
            digest::keyed_body(key, body),
            row.get_ref(2).map_err(reading(table))?,
        );
        let value = serde_json::from_str::<serde_json::Value>(body)
            .and_then(T::deserialize)
            .map_err(|source| LoadError::Json { table, source })?;
        out.push(value);
    }
    Ok(out)
}

/// Revocations by serial, and the serials in the order they were revoked.
type Revocations = (HashMap<Serial, Revocation>, Vec<Serial>);

fn revocations(conn: &Connection, checker: &mut Checker) -> rusqlite::Result<Revocations> {
    let mut stmt = conn.prepare(
        "SELECT serial, at_ms, reason, revoker, digest FROM revocations ORDER BY position",
    )?;
    let mut by_serial = HashMap::default();
    let mut order = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let serial: i64 = row.get(0)?;
        let (at_ms, reason, revoker): (i64, i64, String) = (row.get(1)?, row.get(2)?, row.get(3)?);
        checker.check(
            RowName::Revocation(serial),
            digest::revocation(serial, at_ms, reason, &revoker),
            row.get_ref(4)?,
        );
        let serial = schema::serial(serial);
        let revocation = Revocation {
            at_ms,
            reason: RevocationReason::from_code(reason).unwrap_or(RevocationReason::Unspecified),
            revoker,
        };
        by_serial.insert(serial, revocation);
        order.push(serial);
    }
    Ok((by_serial, order))
}

/// A certificate column back as the PEM served when it was issued.
fn pem(cert: ValueRef<'_>) -> rusqlite::Result<String> {
    match cert {
        ValueRef::Blob(der) => Ok(crate::ca::cert_pem(der)),
        other => other.as_str().map(str::to_string).map_err(Into::into),
    }
}

/// Every certificate, ascending by serial, with whether it is still bound to its device.
fn certs(
    conn: &Connection,
    revoked: &mut HashMap<Serial, Revocation>,
    checker: &mut Checker,
) -> rusqlite::Result<Vec<(CertRecord, bool)>> {
    let mut stmt = conn.prepare(&format!(
        "SELECT {CERT_COLUMNS}, bound, digest FROM certs ORDER BY serial"
    ))?;
    // Every certificate of a root has the same issuer: one allocation for all.
    let mut issuers: Vec<Arc<str>> = Vec::new();
    let mut out = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let columns = cert_columns(row)?;
        checker.check(
            RowName::Cert(columns.serial),
            columns.framed(),
            row.get_ref(12)?,
        );
        let serial = schema::serial(columns.serial);
        let issuer = match issuers.iter().find(|i| ***i == *columns.issuer) {
            Some(i) => i.clone(),
            None => {
                issuers.push(Arc::from(columns.issuer));
                issuers[issuers.len() - 1].clone()
            }
        };
        let cert = CertRecord {
            serial,
            asset_id: Arc::from(columns.asset_id),
            authority: Authority::parse(columns.authority).unwrap_or(Authority::Rsa),
            pem: Arc::from(pem(columns.cert)?),
            issuer,
            subject: Arc::from(columns.subject),
            common_name: Arc::from(columns.common_name),
            public_key: Arc::from(columns.public_key),
            sign_date_ms: columns.sign_date_ms,
            not_before_ms: columns.not_before_ms,
            not_after_ms: columns.not_after_ms,
            revocation: revoked.remove(&serial),
        };
        out.push((cert, row.get::<_, i64>(11)? != 0));
    }
    Ok(out)
}

/// The whole content; `next_serial` as `schema::next_serial` reads it (past every stored
/// serial). With it, the rows that do not match their digest: a snapshot with damage is
/// not to be served.
pub fn snapshot(conn: &Connection, next_serial: Serial) -> Result<(Snapshot, Damage), LoadError> {
    let (snapshot, damage) = checked(|checker| read(conn, next_serial, checker));
    Ok((snapshot?, damage))
}

fn read(
    conn: &Connection,
    next_serial: Serial,
    checker: &mut Checker,
) -> Result<Snapshot, LoadError> {
    let mut devices: Vec<crate::domain::model::Device> =
        bodies(conn, ("devices", "asset_id", "device"), checker)?;
    let index: HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.asset_id.clone(), i))
        .collect();
    let (mut revocations, order) = revocations(conn, checker).map_err(reading("revocations"))?;
    let certs = certs(conn, &mut revocations, checker).map_err(reading("certs"))?;
    let mut authority_of = HashMap::with_capacity_and_hasher(order.len(), Default::default());
    let mut snapshot = Snapshot {
        orgs: bodies(conn, ("orgs", "org_id", "org"), checker)?,
        products: bodies(conn, ("products", "product_key", "product"), checker)?,
        next_serial,
        ..Snapshot::default()
    };
    for (cert, bound) in certs {
        if bound {
            if let Some(&i) = index.get(&*cert.asset_id) {
                devices[i].certs.push(cert.serial);
            }
        }
        if cert.revocation.is_some() {
            authority_of.insert(cert.serial, cert.authority);
        }
        snapshot.certs.push(cert);
    }
    for serial in order {
        if let Some(authority) = authority_of.get(&serial) {
            snapshot.revoked[authority.index()].push(serial);
        }
    }
    snapshot.devices = devices;
    Ok(snapshot)
}
