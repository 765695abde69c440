//! The state file's tables and its identity: the schema version and the roots it
//! belongs to, checked before anything is read.

use rusqlite::{Connection, OptionalExtension};

use crate::ca::Roots;

/// SHA-256 fingerprints of the RSA and the ECC root, as [`crate::ca::Ca::fingerprint`] gives them.
pub type Owners = [String; 2];

pub fn owners(roots: &Roots) -> Owners {
    [roots.rsa.fingerprint.clone(), roots.ecc.fingerprint.clone()]
}

/// Bumped whenever a table changes; a file of another version is refused.
pub const SCHEMA_VERSION: u32 = 1;

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
    pem TEXT NOT NULL,
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

/// WAL with a sync of the log at every commit: a commit is on disk when it
/// returns, so it survives the process being killed and the machine losing power.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
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

/// Refuses a file of another schema version or made under other roots.
pub fn check(conn: &Connection, owners: &Owners) -> Result<(), String> {
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
    if version != SCHEMA_VERSION {
        return Err(format!(
            "its schema version {version} is older than this mock's ({SCHEMA_VERSION}) \
             and cannot be upgraded: use another state file"
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
    Ok(())
}
