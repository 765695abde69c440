//! `--state PATH`: the store kept in an SQLite file, so a restart finds what the
//! last run acknowledged. The store emits typed changes (`domain::store::Change`);
//! this module alone knows SQL. `schema` holds the tables and the file's identity,
//! `writer` the group commit, `load` the way back into a snapshot.

mod digest;
mod identity;
mod load;
mod schema;
#[cfg(test)]
mod tests;
mod verify;
mod writer;

pub use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::{oneshot, watch};

use crate::ca::Roots;
use crate::domain::store::{Change, ChangeSink, Snapshot};
use crate::domain::Serial;
pub use schema::FileProblem;
use schema::Owners;
use writer::Mark;
pub use writer::SaveError;

/// Why a state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Another process (or another mock in this one) has the file open: one mock per file.
    #[error(
        "state file {}: in use by another process (or another mock in this one); one mock \
         per state file: stop the other one, or give another --state file",
        path.display()
    )]
    InUse { path: PathBuf },
    /// This process may not write it, or its folder (where the write-ahead log goes):
    /// refused at start rather than at the first change.
    #[error(
        "state file {}: this process cannot write it or its folder (the -wal log is made \
         beside it): make both writable for this user, or give another --state file",
        path.display()
    )]
    ReadOnly { path: PathBuf },
    /// SQLite's `quick_check` found the file's structure damaged, or rows do not match
    /// the digest they were written with (bytes changed on disk): refused at start rather
    /// than served.
    #[error(
        "state file {}: damaged: {found}; restore it from a copy, or give another --state file",
        path.display()
    )]
    Damaged { path: PathBuf, found: String },
    /// It cannot be opened, read or written, or belongs to other roots or a newer schema
    /// (the message names the file and why).
    #[error("state file {}: {problem}", path.display())]
    Unusable { path: PathBuf, problem: FileProblem },
    /// The writer thread could not be started.
    #[error("cannot start the state writer: {0}")]
    Writer(std::io::Error),
}

/// An open state file, checked against the roots, before its writer starts.
pub struct StateFile {
    conn: Connection,
    path: PathBuf,
    /// What the file holds; `None` for a new (or empty) file, to be seeded.
    snapshot: Option<Snapshot>,
}

impl StateFile {
    /// Opens or creates the file at `path`. Refuses a file of another schema version
    /// or one made under other roots (the message names both fingerprints).
    pub fn open(path: &Path, roots: &Roots) -> Result<StateFile, StateError> {
        Self::open_for(path, &schema::owners(roots))
    }

    fn open_for(path: &Path, owners: &Owners) -> Result<StateFile, StateError> {
        let fail = |problem: FileProblem| StateError::Unusable {
            path: path.to_path_buf(),
            problem,
        };
        let conn = Connection::open(path).map_err(|e| fail(e.into()))?;
        // SQLite opens a file it may not write read-only, without a word.
        if conn
            .is_readonly(rusqlite::MAIN_DB)
            .map_err(|e| fail(e.into()))?
        {
            return Err(StateError::ReadOnly {
                path: path.to_path_buf(),
            });
        }
        schema::lock(&conn).map_err(|e| match e {
            schema::LockError::Busy => StateError::InUse {
                path: path.to_path_buf(),
            },
            schema::LockError::NotWritable(_) => StateError::ReadOnly {
                path: path.to_path_buf(),
            },
            schema::LockError::Sql(e) => fail(FileProblem::NotSqlite(e)),
        })?;
        let mut file = StateFile {
            conn,
            path: path.to_path_buf(),
            snapshot: None,
        };
        file.snapshot = file.read(owners)?;
        Ok(file)
    }

    /// Checks the file's identity, upgrades it and reads it back, each row against the
    /// digest it was written with; `None` for a file that is not a state file yet.
    fn read(&self, owners: &Owners) -> Result<Option<Snapshot>, StateError> {
        let path = &self.path;
        let fail = |problem: FileProblem| StateError::Unusable {
            path: path.clone(),
            problem,
        };
        if !schema::exists(&self.conn).map_err(|e| fail(e.into()))? {
            return Ok(None);
        }
        let version = schema::check(&self.conn, owners).map_err(fail)?;
        // A step that fails on damage says little: the check says what is damaged.
        let explained = |e: FileProblem| match self.explain() {
            Err(damaged) => damaged,
            Ok(()) => fail(e),
        };
        schema::upgrade(&self.conn, version).map_err(explained)?;
        let next_serial = schema::next_serial(&self.conn).map_err(explained)?;
        let (snapshot, damage) =
            load::snapshot(&self.conn, next_serial).map_err(|e| explained(e.into()))?;
        if !damage.is_empty() {
            return Err(StateError::Damaged {
                path: path.clone(),
                found: verify::Found::Rows(damage).to_string(),
            });
        }
        Ok(Some(snapshot))
    }

    /// SQLite's `quick_check` of the file's structure (pages, b-trees, the indexes that
    /// reading the rows back does not touch): refused as damaged, saying what it found.
    /// Apart from [`StateFile::open`] so that it can run while the store is built from the
    /// snapshot: the two take about as long.
    pub fn check_structure(&mut self) -> Result<(), StateError> {
        let found = verify::structure(&self.conn);
        self.damaged(found)
    }

    /// What is damaged, when reading the file failed: its structure, then every row.
    /// Only damage is reported; a check that fails for another reason says nothing.
    fn explain(&self) -> Result<(), StateError> {
        match self.damaged(verify::check(&self.conn)) {
            Err(damaged @ StateError::Damaged { .. }) => Err(damaged),
            _ => Ok(()),
        }
    }

    fn damaged(&self, found: rusqlite::Result<Option<verify::Found>>) -> Result<(), StateError> {
        let damaged = |found| StateError::Damaged {
            path: self.path.clone(),
            found,
        };
        match found {
            Ok(None) => Ok(()),
            Ok(Some(found)) => Err(damaged(found.to_string())),
            // A page so broken that the check stops: the tables it stops on are named.
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt) => {
                let broken: Vec<String> = schema::TABLE_NAMES
                    .into_iter()
                    .filter(|t| {
                        schema::quick_check_of(&self.conn, Some(t)).map_or(true, |p| !p.is_empty())
                    })
                    .map(|t| format!("table {t}"))
                    .collect();
                Err(damaged(format!("SQLite says: {e} ({})", broken.join(", "))))
            }
            Err(e) => Err(StateError::Unusable {
                path: self.path.clone(),
                problem: e.into(),
            }),
        }
    }

    /// What the file held, once; `None` if it is new and must be seeded.
    pub fn take_snapshot(&mut self) -> Option<Snapshot> {
        self.snapshot.take()
    }

    /// Makes a new file a state file holding `seed` (the store as the fixtures make
    /// it), in one transaction: a crash leaves either nothing or the whole seed.
    pub fn seed(&mut self, roots: &Roots, seed: &[Change]) -> Result<(), StateError> {
        self.seed_for(&schema::owners(roots), seed)
    }

    fn seed_for(&mut self, owners: &Owners, seed: &[Change]) -> Result<(), StateError> {
        let path = self.path.clone();
        let fail = |e: rusqlite::Error| StateError::Unusable {
            path: path.clone(),
            problem: e.into(),
        };
        let tx = self.conn.transaction().map_err(fail)?;
        let mut next_serial = Serial::new(1);
        schema::create(&tx, owners, next_serial).map_err(fail)?;
        writer::apply_all(&tx, seed, &mut next_serial).map_err(fail)?;
        tx.commit().map_err(fail)
    }

    /// Starts the writer thread; every change recorded from now on is written by it.
    pub fn start(self) -> Result<Arc<Persist>, StateError> {
        let fail = |problem: FileProblem| StateError::Unusable {
            path: self.path.clone(),
            problem,
        };
        let next_serial = schema::next_serial(&self.conn).map_err(fail)?;
        schema::mapped(&self.conn, false).map_err(|e| fail(e.into()))?;
        let (queue, changes) = mpsc::channel();
        let (mark, marks) = watch::channel(Mark::default());
        let (done, finished) = oneshot::channel::<()>();
        let conn = self.conn;
        let file = identity::FileIdentity::of(&self.path);
        let thread = std::thread::Builder::new()
            .name("state-writer".into())
            .spawn(move || {
                writer::run(conn, changes, mark, next_serial, file);
                // The connection is closed (and the file released) before this is sent.
                let _ = done.send(());
            })
            .map_err(StateError::Writer)?;
        Ok(Arc::new(Persist {
            path: self.path,
            queue: Mutex::new(Queue {
                sent: 0,
                queue: Some(queue),
            }),
            marks,
            writer: Mutex::new(Some(Writer { thread, finished })),
        }))
    }
}

#[derive(Debug)]
struct Queue {
    /// Records queued so far (one per store operation); the n-th queued is record n.
    sent: u64,
    /// `None` once closed: the writer finishes what was queued, then stops.
    queue: Option<mpsc::Sender<Vec<Change>>>,
}

/// The writer thread, and the signal it gives once it has closed the file.
#[derive(Debug)]
struct Writer {
    thread: std::thread::JoinHandle<()>,
    finished: oneshot::Receiver<()>,
}

/// The running state file: the store's sink, and what answers wait on.
#[derive(Debug)]
pub struct Persist {
    path: PathBuf,
    queue: Mutex<Queue>,
    marks: watch::Receiver<Mark>,
    writer: Mutex<Option<Writer>>,
}

impl ChangeSink for Persist {
    fn record(&self, changes: Vec<Change>) {
        // Numbering and queueing under one lock: record n is the n-th the writer takes.
        let mut q = self.queue.lock();
        q.sent += 1;
        // A closed queue means the writer stopped (a failed write, or `close`): `saved`
        // reports it, so the change is never acknowledged.
        if let Some(queue) = &q.queue {
            let _ = queue.send(changes);
        }
    }
}

impl Persist {
    /// Stops the writer once it has written what is queued, and returns when it has
    /// closed the file: another mock can open it at once. Changes recorded afterwards are
    /// never written (their answers fail). Waits for nothing on a second call.
    pub async fn close(&self) {
        self.queue.lock().queue = None;
        let writer = self.writer.lock().take();
        if let Some(Writer { thread, finished }) = writer {
            let _ = finished.await;
            // The thread has only its return left to do.
            let _ = thread.join();
        }
    }

    /// [`Persist::close`] without waiting: the writer stops and closes the file by itself.
    pub fn close_in_background(&self) {
        self.queue.lock().queue = None;
    }
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Waits until every change recorded so far is committed to the file. An answer
    /// waits on this before it is sent, so nothing it tells the client (or shows it)
    /// can be lost by a crash after it. Returns at once when nothing is pending.
    pub async fn saved(&self) -> Result<(), SaveError> {
        let target = self.queue.lock().sent;
        let mut marks = self.marks.clone();
        let mark = marks
            .wait_for(|m| m.saved >= target || m.failed.is_some())
            .await
            .map_err(|_| SaveError::WriterStopped)?;
        match &mark.failed {
            Some(e) => Err(SaveError::Write(e.clone())),
            None => Ok(()),
        }
    }
}
