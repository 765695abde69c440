//! The state file's tables and its identity: the schema version and the roots it
//! belongs to, checked before anything is read.

use rusqlite::{Connection, OptionalExtension};

use super::digest::{self, CertColumns};
use crate::ca::Roots;
use crate::domain::Serial;

/// SHA-256 fingerprints of the RSA and the ECC root, as [`crate::ca::Ca::fingerprint`] gives them.
pub type Owners = [String; 2];

pub fn owners(roots: &Roots) -> Owners {
    [roots.rsa.fingerprint.clone(), roots.ecc.fingerprint.clone()]
}

/// Bumped whenever a table changes. A file of a newer version is refused; an older
/// one is upgraded in place when it is opened (`upgrade`).
pub const SCHEMA_VERSION: u32 = 3;

/// Every table but `meta` keeps a `digest` of each row (version 3, `digest.rs`).
const TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE orgs (org_id TEXT PRIMARY KEY, body TEXT NOT NULL, digest BLOB);
CREATE TABLE products (product_key TEXT PRIMARY KEY, body TEXT NOT NULL, digest BLOB);
CREATE TABLE devices (asset_id TEXT PRIMARY KEY, body TEXT NOT NULL, digest BLOB);
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
    not_after_ms INTEGER NOT NULL,
    digest BLOB
);
CREATE TABLE revocations (
    position INTEGER PRIMARY KEY,
    serial INTEGER NOT NULL UNIQUE,
    at_ms INTEGER NOT NULL,
    reason INTEGER NOT NULL,
    revoker TEXT NOT NULL,
    digest BLOB
);
";

/// The tables whose rows carry a digest.
const DIGESTED: [&str; 5] = ["orgs", "products", "devices", "certs", "revocations"];

/// The meta rows naming the roots, in [`Owners`] order.
const ROOT_KEYS: [(&str, &str); 2] = [("RSA", "rsa_root"), ("ECC", "ecc_root")];

/// Why the file could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another connection holds it: another process, or another mock in this one.
    #[error("the file is in use")]
    Busy,
    /// It, or the log beside it, cannot be opened for writing.
    #[error("it cannot be written: {0}")]
    NotWritable(rusqlite::Error),
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
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly) => {
            LockError::NotWritable(e)
        }
        _ => LockError::Sql(e),
    };
    conn.busy_timeout(std::time::Duration::ZERO).map_err(sql)?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(sql)?;
    configure(conn).map_err(sql)?;
    conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
        .map_err(sql)?;
    mapped(conn, true).map_err(sql)
}

/// How much of the file SQLite maps into memory while it is read at start (SQLite caps it
/// at its own 2 GiB limit).
const START_MAP: i64 = 1 << 40;

/// Reads through a memory map (`true`) or read calls: mapped, reading the rows back and the
/// quick_check cost no system call a page (68,000 pages for 10^5 certificates; the check
/// took 170 ms with read calls, 100 ms mapped). Only for the start: a mapped file that
/// another program truncates under a running mock would crash it.
pub fn mapped(conn: &Connection, on: bool) -> rusqlite::Result<()> {
    conn.pragma_update(None, "mmap_size", if on { START_MAP } else { 0 })
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
pub fn create(conn: &Connection, owners: &Owners, next_serial: Serial) -> rusqlite::Result<()> {
    conn.execute_batch(TABLES)?;
    let mut insert = conn.prepare("INSERT INTO meta (key, value) VALUES (?1, ?2)")?;
    insert.execute(("schema_version", SCHEMA_VERSION.to_string()))?;
    for ((_, key), fingerprint) in ROOT_KEYS.iter().zip(owners) {
        insert.execute((key, fingerprint))?;
    }
    insert.execute(("next_serial", next_serial.to_string()))?;
    Ok(())
}

/// Why a file is not a usable state file (after `state file PATH: `).
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
    #[error("not a usable SQLite file: {0}")]
    NotSqlite(rusqlite::Error),
    #[error("cannot read {key}: {source}")]
    Meta {
        key: &'static str,
        source: rusqlite::Error,
    },
    #[error("its serial counter is missing")]
    NoSerialCounter,
    #[error("cannot read the highest serial: {0}")]
    HighestSerial(rusqlite::Error),
    #[error("its schema version {version} could not be upgraded to {SCHEMA_VERSION}: {source}")]
    Upgrade {
        version: u32,
        source: rusqlite::Error,
    },
    #[error("it has no schema version")]
    NoSchemaVersion,
    #[error("its schema version {0:?} is not a number")]
    VersionNotNumber(String),
    #[error(
        "its schema version {0} is newer than this mock's ({SCHEMA_VERSION}): \
         use the enos-cert-mock that wrote it, or another state file"
    )]
    Newer(u32),
    #[error("it names no {0} root")]
    NoRoot(&'static str),
    #[error(
        "it belongs to another {authority} root: the file's is SHA-256 {theirs}, \
         this mock's is SHA-256 {ours}. Start with the roots it was made with \
         (--rsa-ca-cert/--ecc-ca-cert, the fixtures' ca section; never --fresh-ca), \
         or give another --state file"
    )]
    OtherRoot {
        authority: &'static str,
        theirs: String,
        ours: String,
    },
    #[error(transparent)]
    Load(#[from] super::load::LoadError),
    #[error("its check failed")]
    CheckFailed,
}

pub fn meta(conn: &Connection, key: &'static str) -> Result<Option<String>, FileProblem> {
    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
        row.get(0)
    })
    .optional()
    .map_err(|source| FileProblem::Meta { key, source })
}

/// The next serial to hand out: past the counter's row and every stored certificate
/// (the writer leaves the row alone while certificates alone move it).
pub fn next_serial(conn: &Connection) -> Result<Serial, FileProblem> {
    let counter: Serial = meta(conn, "next_serial")?
        .and_then(|n| n.parse().ok())
        .ok_or(FileProblem::NoSerialCounter)?;
    let highest: Option<i64> = conn
        .query_row("SELECT max(serial) FROM certs", [], |row| row.get(0))
        .map_err(FileProblem::HighestSerial)?;
    Ok(counter.max(highest.map_or(Serial::default(), |s| serial(s).plus(1))))
}

/// A serial as its SQLite column holds it (an INTEGER: serials stay below 2^31).
pub fn column(serial: Serial) -> i64 {
    serial.get() as i64
}

/// A serial column read back.
pub fn serial(column: i64) -> Serial {
    Serial::new(column as u64)
}

/// Brings a file of an older schema `version` (as `check` read it) up to this one, in
/// one transaction. Version 1 named the certificate column `pem` and always held PEM
/// text there; version 2 kept no digests (they are computed for the rows as they are:
/// damage from before the upgrade cannot be told from data).
pub fn upgrade(conn: &Connection, version: u32) -> Result<(), FileProblem> {
    if version >= SCHEMA_VERSION {
        return Ok(());
    }
    let upgraded = conn.unchecked_transaction().and_then(|tx| {
        if version < 2 {
            tx.execute_batch("ALTER TABLE certs RENAME COLUMN pem TO cert")?;
        }
        if version < 3 {
            for table in DIGESTED {
                tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN digest BLOB"))?;
            }
            add_digests(&tx)?;
        }
        tx.execute(
            "UPDATE meta SET value = ?1 WHERE key = 'schema_version'",
            [SCHEMA_VERSION.to_string()],
        )?;
        tx.commit()
    });
    upgraded.map_err(|source| FileProblem::Upgrade { version, source })
}

/// Every row's digest, for a file written before rows carried one.
fn add_digests(conn: &Connection) -> rusqlite::Result<()> {
    for (table, key) in [
        ("orgs", "org_id"),
        ("products", "product_key"),
        ("devices", "asset_id"),
    ] {
        let rows: Vec<(String, String)> = conn
            .prepare(&format!("SELECT {key}, body FROM {table}"))?
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut update =
            conn.prepare(&format!("UPDATE {table} SET digest = ?1 WHERE {key} = ?2"))?;
        for (key, body) in rows {
            update.execute((digest::keyed_body(&key, &body).finish(), &key))?;
        }
    }
    let mut certs = conn.prepare(&format!("SELECT {CERT_COLUMNS} FROM certs"))?;
    let mut update = conn.prepare("UPDATE certs SET digest = ?1 WHERE serial = ?2")?;
    let mut rows = certs.query([])?;
    while let Some(row) = rows.next()? {
        let columns = cert_columns(row)?;
        update.execute((columns.framed().finish(), columns.serial))?;
    }
    let mut revocations = conn.prepare("SELECT serial, at_ms, reason, revoker FROM revocations")?;
    let mut update = conn.prepare("UPDATE revocations SET digest = ?1 WHERE serial = ?2")?;
    let mut rows = revocations.query([])?;
    while let Some(row) = rows.next()? {
        let serial: i64 = row.get(0)?;
        let revoker: String = row.get(3)?;
        update.execute((
            digest::revocation(serial, row.get(1)?, row.get(2)?, &revoker).finish(),
            serial,
        ))?;
    }
    Ok(())
}

/// The certificate columns a digest covers, in the order [`cert_columns`] reads them.
pub const CERT_COLUMNS: &str = "serial, asset_id, authority, cert, issuer, subject, \
     common_name, public_key, sign_date_ms, not_before_ms, not_after_ms";

/// A row selected with [`CERT_COLUMNS`] first, borrowed.
pub fn cert_columns<'r>(row: &'r rusqlite::Row<'_>) -> rusqlite::Result<CertColumns<'r>> {
    let text = |i: usize| row.get_ref(i)?.as_str().map_err(rusqlite::Error::from);
    Ok(CertColumns {
        serial: row.get(0)?,
        asset_id: text(1)?,
        authority: text(2)?,
        cert: row.get_ref(3)?,
        issuer: text(4)?,
        subject: text(5)?,
        common_name: text(6)?,
        public_key: row.get_ref(7)?.as_blob()?,
        sign_date_ms: row.get(8)?,
        not_before_ms: row.get(9)?,
        not_after_ms: row.get(10)?,
    })
}

/// SQLite's `quick_check` (the file's structure: pages, b-trees, free list): the problems
/// it reports, none for a sound file.
pub fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    quick_check_of(conn, None)
}

/// The tables a check can be narrowed to, to name the one SQLite cannot even read.
pub const TABLE_NAMES: [&str; 6] = [
    "meta",
    "orgs",
    "products",
    "devices",
    "certs",
    "revocations",
];

/// [`quick_check`] of the whole file, or of one table and its indexes.
pub fn quick_check_of(conn: &Connection, table: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let pragma = match table {
        Some(table) => format!("PRAGMA quick_check({table})"),
        None => "PRAGMA quick_check".to_string(),
    };
    let found: Vec<String> = conn
        .prepare(&pragma)?
        .query_map([], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<_>>()?;
    if found == ["ok"] {
        return Ok(Vec::new());
    }
    // One problem a line, without the `*** in database main ***` headings.
    Ok(found
        .iter()
        .flat_map(|row| row.lines())
        .filter(|line| !line.starts_with("***") && !line.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// Refuses a file of a newer schema version or made under other roots; gives the
/// file's version.
pub fn check(conn: &Connection, owners: &Owners) -> Result<u32, FileProblem> {
    let version = meta(conn, "schema_version")?.ok_or(FileProblem::NoSchemaVersion)?;
    let version: u32 = version
        .parse()
        .map_err(|_| FileProblem::VersionNotNumber(version))?;
    if version > SCHEMA_VERSION {
        return Err(FileProblem::Newer(version));
    }
    for ((authority, key), ours) in ROOT_KEYS.into_iter().zip(owners) {
        let theirs = meta(conn, key)?.ok_or(FileProblem::NoRoot(authority))?;
        if &theirs != ours {
            return Err(FileProblem::OtherRoot {
                authority,
                theirs,
                ours: ours.clone(),
            });
        }
    }
    Ok(version)
}
