//! Reads a state file back into a [`Snapshot`]: the rows as written, the devices'
//! certificate lists and the CRLs' order rebuilt from them.

use foldhash::HashMap;
use std::sync::Arc;

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::domain::model::{Authority, CertRecord, Revocation, RevocationReason};
use crate::domain::store::Snapshot;

/// Every row's JSON body. Through `Value`, which any `Deserialize<'static>` accepts
/// (a device's status is a `&'static str`).
fn bodies<T: serde::Deserialize<'static>>(
    conn: &Connection,
    table: &str,
) -> Result<Vec<T>, String> {
    let mut stmt = conn
        .prepare(&format!("SELECT body FROM {table}"))
        .map_err(|e| format!("cannot read {table}: {e}"))?;
    let rows = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .map_err(|e| format!("cannot read {table}: {e}"))?;
    rows.map(|body| {
        let body = body.map_err(|e| format!("cannot read {table}: {e}"))?;
        serde_json::from_str::<serde_json::Value>(&body)
            .and_then(T::deserialize)
            .map_err(|e| format!("a row of {table} is broken: {e}"))
    })
    .collect()
}

/// Revocations by serial, and the serials in the order they were revoked.
type Revocations = (HashMap<u64, Revocation>, Vec<u64>);

fn revocations(conn: &Connection) -> rusqlite::Result<Revocations> {
    let mut stmt =
        conn.prepare("SELECT serial, at_ms, reason, revoker FROM revocations ORDER BY position")?;
    let mut by_serial = HashMap::default();
    let mut order = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let serial = row.get::<_, i64>(0)? as u64;
        let reason: i64 = row.get(2)?;
        let revocation = Revocation {
            at_ms: row.get(1)?,
            reason: RevocationReason::from_code(reason).unwrap_or(RevocationReason::Unspecified),
            revoker: row.get(3)?,
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
    revoked: &mut HashMap<u64, Revocation>,
) -> rusqlite::Result<Vec<(CertRecord, bool)>> {
    let mut stmt = conn.prepare(
        "SELECT serial, asset_id, bound, authority, cert, issuer, subject, common_name,
                public_key, sign_date_ms, not_before_ms, not_after_ms
         FROM certs ORDER BY serial",
    )?;
    // Every certificate of a root has the same issuer: one allocation for all.
    let mut issuers: Vec<Arc<str>> = Vec::new();
    let mut out = Vec::new();
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let serial = row.get::<_, i64>(0)? as u64;
        let authority: String = row.get(3)?;
        let issuer: String = row.get(5)?;
        let issuer = match issuers.iter().find(|i| ***i == *issuer) {
            Some(i) => i.clone(),
            None => {
                issuers.push(Arc::from(issuer));
                issuers[issuers.len() - 1].clone()
            }
        };
        let public_key: Vec<u8> = row.get(8)?;
        let cert = CertRecord {
            serial,
            asset_id: Arc::from(row.get::<_, String>(1)?),
            authority: Authority::parse(&authority).unwrap_or(Authority::Rsa),
            pem: Arc::from(pem(row.get_ref(4)?)?),
            issuer,
            subject: Arc::from(row.get::<_, String>(6)?),
            common_name: Arc::from(row.get::<_, String>(7)?),
            public_key: Arc::from(public_key),
            sign_date_ms: row.get(9)?,
            not_before_ms: row.get(10)?,
            not_after_ms: row.get(11)?,
            revocation: revoked.remove(&serial),
        };
        out.push((cert, row.get::<_, i64>(2)? != 0));
    }
    Ok(out)
}

/// The whole content; `next_serial` as `schema::next_serial` reads it (past every stored serial).
pub fn snapshot(conn: &Connection, next_serial: u64) -> Result<Snapshot, String> {
    let mut devices: Vec<crate::domain::model::Device> = bodies(conn, "devices")?;
    let index: HashMap<String, usize> = devices
        .iter()
        .enumerate()
        .map(|(i, d)| (d.asset_id.clone(), i))
        .collect();
    let (mut revocations, order) =
        revocations(conn).map_err(|e| format!("cannot read revocations: {e}"))?;
    let certs = certs(conn, &mut revocations).map_err(|e| format!("cannot read certs: {e}"))?;
    let mut authority_of = HashMap::with_capacity_and_hasher(order.len(), Default::default());
    let mut snapshot = Snapshot {
        orgs: bodies(conn, "orgs")?,
        products: bodies(conn, "products")?,
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
