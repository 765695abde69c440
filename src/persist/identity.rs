//! Whether the state file at its path is still the file the writer writes: a directory
//! removed (or a file moved or replaced) under a running mock leaves SQLite writing to
//! an inode no path reaches, and the next start would not find those changes. Checked
//! before every commit, by path: one `stat` a group, no extra descriptor (closing a
//! second descriptor of the file would drop SQLite's own locks on it).

use std::path::{Path, PathBuf};

/// Why the file at the path is not the one being written.
#[derive(Debug, thiserror::Error)]
pub enum Moved {
    #[error("{path} is gone ({source}): what is written now would be lost at the next start")]
    Gone {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is another file now: what is written now would be lost at the next start")]
    Replaced { path: String },
}

/// Device and inode of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Inode(u64, u64);

fn inode(path: &Path) -> std::io::Result<Inode> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).map(|m| Inode(m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        std::fs::metadata(path).map(|_| Inode(0, 0))
    }
}

/// The database file and its write-ahead log as they were when the writer started.
#[derive(Debug)]
pub struct FileIdentity {
    files: Vec<(PathBuf, Option<Inode>)>,
}

impl FileIdentity {
    /// The file at `path` and its `-wal` companion (known once it exists).
    pub fn of(path: &Path) -> FileIdentity {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        let files = [path.to_path_buf(), PathBuf::from(wal)]
            .into_iter()
            .map(|p| {
                let known = inode(&p).ok();
                (p, known)
            })
            .collect();
        FileIdentity { files }
    }

    /// Ok while each path still names the file it named; a file not seen yet (the log
    /// before the first write) is learned here.
    pub fn check(&mut self) -> Result<(), Moved> {
        for (path, known) in &mut self.files {
            let name = || path.display().to_string();
            match (inode(path), *known) {
                (Ok(now), Some(then)) if now == then => {}
                (Ok(_), Some(_)) => return Err(Moved::Replaced { path: name() }),
                (Ok(now), None) => *known = Some(now),
                (Err(source), Some(_)) => {
                    return Err(Moved::Gone {
                        path: name(),
                        source,
                    })
                }
                (Err(_), None) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_moved_or_replaced_file_is_noticed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        std::fs::write(&path, b"x").unwrap();
        let mut identity = FileIdentity::of(&path);
        assert!(identity.check().is_ok(), "unchanged");

        let wal = dir.path().join("state.db-wal");
        std::fs::write(&wal, b"log").unwrap();
        assert!(identity.check().is_ok(), "the log appears: learned");

        std::fs::rename(&wal, dir.path().join("elsewhere")).unwrap();
        std::fs::write(&wal, b"log").unwrap();
        let err = identity.check().unwrap_err();
        assert!(matches!(err, Moved::Replaced { .. }), "{err}");
        assert!(err.to_string().contains("state.db-wal"), "{err}");

        let mut identity = FileIdentity::of(&path);
        std::fs::remove_dir_all(dir.path()).unwrap();
        let err = identity.check().unwrap_err();
        assert!(matches!(err, Moved::Gone { .. }), "{err}");
        assert!(err.to_string().contains("state.db is gone"), "{err}");
    }
}
