//! Group commit: one thread owns the connection, takes every change queued since its
//! last commit, writes them in one transaction, commits (the log is synced) and only
//! then moves the saved mark the answers wait for. While it syncs, the next group
//! queues, so a busy mock pays one sync per group, not one per change. Once groups
//! show that several clients write at once, the writer also waits a moment before it
//! takes the next group, so that the group is bigger (PostgreSQL's `commit_delay` with
//! `commit_siblings`): fewer syncs and pages per change. A lone client never waits.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Transaction};
use tokio::sync::watch;

use super::digest::{self, CertColumns};
use super::identity::{FileIdentity, Moved};
use super::schema;
use crate::domain::model::CertRecord;
use crate::domain::store::Change;
use crate::domain::Serial;

/// How far the file has caught up with the store.
#[derive(Debug, Clone, Default)]
pub struct Mark {
    /// Records 1..=saved (one per store operation) are committed.
    pub saved: u64,
    /// Set when a write failed: nothing after it is ever acknowledged.
    pub failed: Option<Arc<WriteError>>,
}

/// The most records one transaction takes; a record (one operation, e.g. a whole bulk
/// load) is never split.
const GROUP_MAX: usize = 10_000;

/// A group this big means clients are writing concurrently: the next one waits [`LINGER`].
const SIBLINGS: usize = 2;

/// How long the writer lets a group fill once it has a change to write; of the order
/// of a sync, so a busy client waits at most about twice as long for durability. At RSA
/// c=32 it took groups from 1.3 to ~6 changes and halved the writer's CPU per change
/// (docs/persistence.md).
const LINGER: Duration = Duration::from_millis(2);

/// How long to let the next group fill, given how big the last one was: a lone
/// client's groups are of one change, and it never waits.
pub fn linger_after(last_group: usize) -> Option<Duration> {
    (last_group >= SIBLINGS).then_some(LINGER)
}

/// The longest wait between two attempts at a group that failed (a full disk).
const RETRY_MAX: Duration = Duration::from_secs(1);

/// Why an answer cannot be acknowledged: what [`super::Persist::saved`] reports.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SaveError {
    #[error("the state file could not be written: {0}")]
    Write(Arc<WriteError>),
    #[error("the state writer stopped")]
    WriterStopped,
}

/// Why a group could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Moved(#[from] Moved),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// Runs until every sender is gone and what they queued is written; `next_serial` is the
/// counter as the file has it.
///
/// A group that fails (disk full, the file removed) is not dropped: `failed` is set, so
/// no answer acknowledges anything from then on, and the writer tries the same group
/// again, with whatever queued since, until it is written (a full disk freed: it
/// recovers by itself, nothing lost) or, once the queue is closed, gives up.
pub fn run(
    mut conn: Connection,
    queue: Receiver<Vec<Change>>,
    mark: watch::Sender<Mark>,
    mut next_serial: Serial,
    mut file: FileIdentity,
) {
    // A kill leaves the log as long as the last big transaction: fold it into the file
    // now, off the start-up path, so the next start reads one file and the disk is freed.
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!("state file checkpoint: {e}");
    }
    let mut written = 0u64;
    let mut last_group = 0;
    // Records taken from the queue and not yet committed, in order.
    let mut pending: Vec<Vec<Change>> = Vec::new();
    let mut retry = Duration::ZERO;
    let mut closed = false;
    loop {
        if pending.is_empty() {
            let Ok(first) = queue.recv() else { break };
            pending.push(first);
            if let Some(wait) = linger_after(last_group) {
                // Asleep rather than in `recv`: the changes queue without waking this thread.
                std::thread::sleep(wait);
            }
        }
        while pending.len() < GROUP_MAX {
            match queue.try_recv() {
                Ok(record) => pending.push(record),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        let result = file
            .check()
            .map_err(WriteError::from)
            .and_then(|()| {
                write_group(&mut conn, pending.iter().flatten(), &mut next_serial)
                    .map_err(WriteError::from)
            })
            .map_err(Arc::new);
        match result {
            Ok(()) => {
                if !retry.is_zero() {
                    tracing::warn!(
                        records = pending.len(),
                        "the state file is written again: changes are acknowledged again"
                    );
                    retry = Duration::ZERO;
                }
                last_group = pending.len();
                written += pending.len() as u64;
                pending.clear();
                mark.send_modify(|m| {
                    m.saved = written;
                    m.failed = None;
                });
            }
            Err(e) => {
                if retry.is_zero() || closed {
                    tracing::error!(
                        records = pending.len(),
                        "{}; no change is acknowledged until it can be written again",
                        SaveError::Write(e.clone())
                    );
                }
                mark.send_modify(|m| m.failed = Some(e));
                if closed {
                    tracing::error!(
                        records = pending.len(),
                        "stopping with changes not written (none of them was acknowledged)"
                    );
                    return;
                }
                retry = (retry * 2).clamp(Duration::from_millis(50), RETRY_MAX);
                std::thread::sleep(retry);
            }
        }
    }
}

/// One transaction for the group.
pub fn write_group<'a>(
    conn: &mut Connection,
    group: impl IntoIterator<Item = &'a Change>,
    next_serial: &mut Serial,
) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    apply_all(&tx, group, next_serial)?;
    tx.commit()
}

/// The changes in order inside `tx`. The serial counter is read back as the greater of
/// its row and the highest stored serial (`schema::next_serial`), so its row is only
/// written when that would not do: serials taken without a certificate, or certificates
/// removed.
pub fn apply_all<'a>(
    tx: &Transaction<'_>,
    group: impl IntoIterator<Item = &'a Change>,
    next_serial: &mut Serial,
) -> rusqlite::Result<()> {
    let mut counter_moved = false;
    for change in group {
        counter_moved |= matches!(change, Change::Cleared | Change::SerialsBelow(_));
        apply(tx, change, next_serial)?;
    }
    if counter_moved {
        tx.prepare_cached("UPDATE meta SET value = ?1 WHERE key = 'next_serial'")?
            .execute([next_serial.to_string()])?;
    }
    Ok(())
}

fn json<T: serde::Serialize>(value: &T) -> rusqlite::Result<String> {
    serde_json::to_string(value).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

fn apply(tx: &Transaction<'_>, change: &Change, next_serial: &mut Serial) -> rusqlite::Result<()> {
    match change {
        Change::Cleared => tx.execute_batch(
            "DELETE FROM revocations; DELETE FROM certs; DELETE FROM devices;
             DELETE FROM products; DELETE FROM orgs;",
        )?,
        Change::Org(org) => {
            let body = json(org)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO orgs (org_id, body, digest) VALUES (?1, ?2, ?3)",
            )?
            .execute((
                &org.org_id,
                &body,
                digest::keyed_body(&org.org_id, &body).finish(),
            ))?;
        }
        Change::Product(p) => {
            let body = json(p)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO products (product_key, body, digest) VALUES (?1, ?2, ?3)",
            )?
            .execute((
                &p.product_key,
                &body,
                digest::keyed_body(&p.product_key, &body).finish(),
            ))?;
        }
        Change::ProductDeleted(key) => {
            tx.prepare_cached("DELETE FROM products WHERE product_key = ?1")?
                .execute([key])?;
        }
        Change::Device(d) => {
            let body = json(d)?;
            tx.prepare_cached(
                "INSERT OR REPLACE INTO devices (asset_id, body, digest) VALUES (?1, ?2, ?3)",
            )?
            .execute((
                &d.asset_id,
                &body,
                digest::keyed_body(&d.asset_id, &body).finish(),
            ))?;
        }
        Change::DeviceDeleted { asset_id, serials } => {
            tx.prepare_cached("DELETE FROM devices WHERE asset_id = ?1")?
                .execute([asset_id])?;
            // By serial: an index on asset_id would cost every issued certificate a write.
            for serial in serials {
                tx.prepare_cached("UPDATE certs SET bound = 0 WHERE serial = ?1")?
                    .execute([schema::column(*serial)])?;
            }
        }
        Change::Cert(cert) => {
            insert_cert(tx, cert)?;
            *next_serial = (*next_serial).max(cert.serial.plus(1));
        }
        Change::Revoked { serial, revocation } => {
            let (serial, reason) = (schema::column(*serial), i64::from(revocation.reason.code()));
            tx.prepare_cached(
                "INSERT OR IGNORE INTO revocations (serial, at_ms, reason, revoker, digest)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute((
                serial,
                revocation.at_ms,
                reason,
                &revocation.revoker,
                digest::revocation(serial, revocation.at_ms, reason, &revocation.revoker).finish(),
            ))?;
        }
        Change::SerialsBelow(serial) => *next_serial = (*next_serial).max(*serial),
    }
    Ok(())
}

/// The certificate as DER: half a page instead of a whole one for an RSA certificate
/// with its PEM. Text only if it is not a PEM certificate (it always is when issued).
fn cert_column(pem_text: &str) -> Value {
    match pem::parse(pem_text) {
        Ok(block) if block.tag() == "CERTIFICATE" => Value::Blob(block.into_contents()),
        _ => Value::Text(pem_text.to_string()),
    }
}

fn insert_cert(tx: &Transaction<'_>, c: &CertRecord) -> rusqlite::Result<()> {
    let cert = cert_column(&c.pem);
    let columns = CertColumns {
        serial: schema::column(c.serial),
        asset_id: &c.asset_id,
        authority: c.authority.as_str(),
        cert: ValueRef::from(&cert),
        issuer: &c.issuer,
        subject: &c.subject,
        common_name: &c.common_name,
        public_key: &c.public_key,
        sign_date_ms: c.sign_date_ms,
        not_before_ms: c.not_before_ms,
        not_after_ms: c.not_after_ms,
    };
    tx.prepare_cached(
        "INSERT OR REPLACE INTO certs (serial, asset_id, bound, authority, cert, issuer, subject,
             common_name, public_key, sign_date_ms, not_before_ms, not_after_ms, digest)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(rusqlite::params![
        columns.serial,
        columns.asset_id,
        columns.authority,
        &cert,
        columns.issuer,
        columns.subject,
        columns.common_name,
        columns.public_key,
        columns.sign_date_ms,
        columns.not_before_ms,
        columns.not_after_ms,
        columns.framed().finish(),
    ])?;
    Ok(())
}
