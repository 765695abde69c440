//! The checks of a state file before it is served: SQLite's `quick_check` for the file's
//! structure (run while the store is built from the rows read), and every row against the
//! digest it was written with (`digest.rs`; done as the rows are read, `load.rs`, and here
//! again, one table after another, to name what is damaged when reading them failed).

use rusqlite::Connection;

use super::digest;
use super::schema::{cert_columns, quick_check, CERT_COLUMNS};

/// What the check found, as a person would look for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// SQLite's `quick_check` report, one problem a line.
    Structure(Vec<String>),
    /// Rows whose content does not match their digest (`certificate 422363829`).
    Rows(Vec<String>),
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Found::Structure(problems) => {
                write!(f, "SQLite's quick_check says: {}", at_most(problems, 3))
            }
            Found::Rows(rows) => write!(
                f,
                "these rows do not match the checksum they were written with: {}",
                at_most(rows, 5)
            ),
        }
    }
}

/// The first `n` items joined, and how many more there are.
fn at_most(items: &[String], n: usize) -> String {
    let shown = items[..items.len().min(n)].join(", ");
    match items.len().saturating_sub(n) {
        0 => shown,
        more => format!("{shown} and {more} more"),
    }
}

/// The file's structure; `None` when it is sound.
pub fn structure(conn: &Connection) -> rusqlite::Result<Option<Found>> {
    let problems = quick_check(conn)?;
    Ok((!problems.is_empty()).then_some(Found::Structure(problems)))
}

/// The file's structure, then its rows (for a file that could not be read back, to say
/// why); `None` when both are sound.
pub fn check(conn: &Connection) -> rusqlite::Result<Option<Found>> {
    if let Some(found) = structure(conn)? {
        return Ok(Some(found));
    }
    let rows = damaged_rows(conn)?;
    Ok((!rows.is_empty()).then_some(Found::Rows(rows)))
}

/// Every row whose content does not match its digest.
fn damaged_rows(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut damaged = Vec::new();
    for (table, key, noun) in [
        ("orgs", "org_id", "org"),
        ("products", "product_key", "product"),
        ("devices", "asset_id", "device"),
    ] {
        let mut stmt = conn.prepare(&format!("SELECT {key}, body, digest FROM {table}"))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let (key, body) = (row.get_ref(0)?.as_str().ok(), row.get_ref(1)?.as_str());
            let whole = match (key, body) {
                (Some(key), Ok(body)) => {
                    digest::keyed_body(key, body).matches(row.get_ref(2)?.as_blob_or_null()?)
                }
                _ => false,
            };
            if !whole {
                let name = key.unwrap_or("(a key that is not text)");
                damaged.push(format!("{noun} {name}"));
            }
        }
    }
    let mut stmt = conn.prepare(&format!("SELECT {CERT_COLUMNS}, digest FROM certs"))?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        // A text column that is no longer text is damage too.
        let whole = match cert_columns(row) {
            Ok(columns) => columns
                .framed()
                .matches(row.get_ref(11)?.as_blob_or_null()?),
            Err(_) => false,
        };
        if !whole {
            damaged.push(format!("certificate {}", row.get::<_, i64>(0)?));
        }
    }
    let mut stmt =
        conn.prepare("SELECT serial, at_ms, reason, revoker, digest FROM revocations")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let serial: i64 = row.get(0)?;
        let whole = match row.get_ref(3)?.as_str() {
            Ok(revoker) => digest::revocation(serial, row.get(1)?, row.get(2)?, revoker)
                .matches(row.get_ref(4)?.as_blob_or_null()?),
            Err(_) => false,
        };
        if !whole {
            damaged.push(format!("the revocation of certificate {serial}"));
        }
    }
    Ok(damaged)
}
