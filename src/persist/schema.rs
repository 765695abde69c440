//! The state file's tables and its identity: the schema version and the roots it
//! belongs to, checked before anything is read.

use rusqlite::{Connection, OptionalExtension};

use crate::ca::Roots;

/// SHA-256 fingerprints of the RSA and the ECC root, as [`crate::ca::Ca::fingerprint`] gives them.
pub type Owners = [String; 2];

pub fn owners(roots: &Roots) -> Owners {
    [roots.rsa.fingerprint.clone(), roots.ecc.fingerprint.clone()]
}

/// Bumped whenever a table changes. A file of a newer version is refused; an older
/// one is upgraded in place when it is opened (`upgrade`).
pub const SCHEMA_VERSION: u32 = 2;

const TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orgs (org_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE products (product_key TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE devices (asset_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE certs (
    serial INTEGER PRIMARY KEY,
    asset_id TEXT NOT NULL,
    bound INTEGER NOT NULL,
    authority TEXT NOT NULL,
    -- DER (a BLOB); version 1 wrote the PEM text, which is still read.
    cert NOT NULL,
    issuer TEXT NOT NULL,
    subject TEXT NOT NULL,
    common_name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    sign_date_ms INTEGER NOT NULL,
    not_before_ms INTEGER NOT NULL,
    not_after_ms INTEGER NOT NULL
);
CREATE TABLE revocations (
    position INTEGER PRIMARY KEY,
    serial INTEGER NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    reason INTEGER NOT NULL,
    revoker TEXT NOT NULL
);
";

/// The meta rows naming the roots, in [`Owners`] order.
const ROOT_KEYS: [(&str, &str); 2] = [("RSA", "rsa_root"), ("ECC", "ecc_root")];

/// Why the file could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another connection holds it: another process, or another mock in this one.
    #[error("the file is in use")]
    Busy,
    #[error(transparent)]
    Sql(rusqlite::Error),
}

/// Configures the connection ([`configure`]) and takes the file for this connection
/// alone, at once: SQLite's exclusive locking mode, its lock taken by an empty write
/// transaction and held until the connection closes (the process's end included, `kill -9`
/// too: the kernel drops the lock). A file another connection holds is refused at once,
/// not after a busy wait (docs/persistence.md, "One process per file").
pub fn lock(conn: &Connection) -> Result<(), LockError> {
    let sql = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            LockError::Busy
        }
        _ => LockError::Sql(e),
    };
    conn.busy_timeout(std::time::Duration::ZERO).map_err(sql)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(sql)?;
    configure(conn).map_err(sql)?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").map_err(sql)
}

/// WAL with a sync of the log at every commit: a commit is on disk when it
/// returns, so it survives the process being killed and the machine losing power.
fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    // After a big transaction (a bulk load) the log shrinks back once checkpointed.
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
    Ok(())
}

/// Whether the file has been made a state file (a new or empty file has not).
pub fn exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
        [],
        |row| row.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// The tables and identity of a new state file, inside the caller's transaction.
pub fn create(conn: &Connection, owners: &Owners, next_serial: u64) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)?;
    let mut insert = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    insert.execute(("schema_version", SCHEMA_VERSION.to_string()))?;
    for ((_, key), fingerprint) in ROOT_KEYS.iter().zip(owners) {
        insert.execute((key, fingerprint))?;
    }
    insert.execute(("next_serial", next_serial.to_string()))?;
    Ok(())
}

pub fn meta(conn: &Connection, key: &str) -> Result<Option<String>, String> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
    .map_err(|e| format!("cannot read {key}: {e}"))
}

/// The next serial to hand out: past the counter's row and every stored certificate
/// (the writer leaves the row alone while certificates alone move it).
pub fn next_serial(conn: &Connection) -> Result<u64, String> {
    let counter: u64 = meta(conn, "next_serial")?
        .and_then(|n| n.parse().ok())
        .ok_or("its serial counter is missing")?;
    let highest: Option<i64> = conn
        .query_row("SELECT max(serial) FROM certs", [], |row| row.get(0))
        .map_err(|e| format!("cannot read the highest serial: {e}"))?;
    Ok(counter.max(highest.map_or(0, |s| s as u64 + 1)))
}

/// Brings a file of an older schema `version` (as `check` read it) up to this one, in
/// one transaction. Version 1 named the certificate column `pem` and always held PEM
/// text there.
pub fn upgrade(conn: &Connection, version: u32) -> Result<(), String> {
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let upgraded = conn.unchecked_transaction().and_then(|tx| {
        tx.execute_batch(&format!(
            "ALTER TABLE certs RENAME COLUMN pem TO cert;
             UPDATE meta SET value = '{SCHEMA_VERSION}' WHERE key = 'schema_version';"
        ))?;
        tx.commit()
    });
    upgraded.map_err(|e| {
        format!("its schema version {version} could not be upgraded to {SCHEMA_VERSION}: {e}")
    })
}

/// Refuses a file of a newer schema version or made under other roots; gives the
/// file's version.
pub fn check(conn: &Connection, owners: &Owners) -> Result<u32, String> {
    let version = meta(conn, "schema_version")?.ok_or("it has no schema version")?;
    let version: u32 = version
        .parse()
        .map_err(|_| format!("its schema version {version:?} is not a number"))?;
    if version > SCHEMA_VERSION {
        return Err(format!(
            "its schema version {version} is newer than this mock's ({SCHEMA_VERSION}): \
             use the enos-cert-mock that wrote it, or another state file"
        ));
    }
    for ((authority, key), ours) in ROOT_KEYS.into_iter().zip(owners) {
        let theirs = meta(conn, key)?.ok_or_else(|| format!("it names no {authority} root"))?;
        if &theirs != ours {
            return Err(format!(
                "it belongs to another {authority} root: the file's is SHA-256 {theirs}, \
                 this mock's is SHA-256 {ours}. Start with the roots it was made with \
                 (--rsa-ca-cert/--ecc-ca-cert, the fixtures' ca section; never --fresh-ca), \
                 or give another --state file"
            ));
        }
    }
    Ok(version)
}
