//! Where the fixtures come from: reading and parsing the file, building the model from
//! it, and the roots it names. Start-up and reload both read fixtures through here.

use std::path::{Path, PathBuf};

use crate::ca::keys::{self, RootError};
use crate::ca::Ca;
use crate::config::Config;
use crate::domain::fixtures::{CaFiles, CaFixture, Fixtures, FixturesError, Loaded};
use crate::domain::model::Authority;

/// A file that cannot be read: its path and why.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ReadError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// Why fixtures are refused, at start-up or on reload: the file named, and the problem.
#[derive(Debug, thiserror::Error)]
pub enum FixturesFileError {
    #[error("fixtures file {0}")]
    Read(ReadError),
    #[error("fixtures file {name}: {source}")]
    Invalid { name: String, source: FixturesError },
    /// A root its `ca` section names cannot be loaded.
    #[error("fixtures file {name}: {source}")]
    Root {
        name: String,
        source: Box<LoadRootError>,
    },
}

/// Why a root cannot be loaded (from flags, the fixtures' `ca` section, or generated).
#[derive(Debug, thiserror::Error)]
pub enum LoadRootError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error("{} root from {}: {source}", authority.as_str(), cert.display())]
    Import {
        authority: Authority,
        cert: PathBuf,
        source: RootError,
    },
    #[error("{} root: {source}", authority.as_str())]
    Build {
        authority: Authority,
        source: RootError,
    },
}

/// The fixtures built into the binary: a copy of `fixtures/default.json`.
pub const DEFAULT_FIXTURES: &str = include_str!("../../fixtures/default.json");
pub const DEFAULT_FIXTURES_NAME: &str = "built-in fixtures/default.json";
/// How fixtures given as text (not a file) are named in messages and health.
pub const INLINE_FIXTURES_NAME: &str = "inline fixtures";

/// Where fixtures are read from.
#[derive(Debug, Clone, Default)]
pub enum FixturesOrigin {
    /// `fixtures/default.json`, built into the binary.
    #[default]
    BuiltIn,
    File(PathBuf),
    /// JSON text given to the library; relative paths start from the working directory.
    Json(std::sync::Arc<str>),
}

impl FixturesOrigin {
    /// The file named by `--fixtures`, or the built-in fixtures.
    pub fn of(path: Option<&Path>) -> FixturesOrigin {
        path.map_or(FixturesOrigin::BuiltIn, |p| {
            FixturesOrigin::File(p.to_path_buf())
        })
    }

    fn path(&self) -> Option<&Path> {
        match self {
            FixturesOrigin::File(path) => Some(path),
            _ => None,
        }
    }
}

/// Where the fixtures came from, and what they declared (for reset, reload and health).
#[derive(Debug, Clone)]
pub struct FixturesSource {
    pub origin: FixturesOrigin,
    pub name: String,
    pub loaded: Loaded,
}

impl FixturesSource {
    /// Builds the model from parsed fixtures; the error names the file.
    pub(crate) fn load(
        origin: &FixturesOrigin,
        name: String,
        fixtures: &Fixtures,
        now_ms: i64,
    ) -> Result<FixturesSource, FixturesFileError> {
        let loaded = match fixtures.load(now_ms) {
            Ok(loaded) => loaded,
            Err(source) => return Err(FixturesFileError::Invalid { name, source }),
        };
        Ok(FixturesSource {
            origin: origin.clone(),
            name,
            loaded,
        })
    }

    /// The file again, as start-up would take it, roots included (they are only
    /// checked: the running roots stay). A broken file is refused whole.
    pub fn reread(&self, now_ms: i64) -> Result<FixturesSource, FixturesFileError> {
        let (name, fixtures) = read_fixtures(&self.origin)?;
        let source = FixturesSource::load(&self.origin, name, &fixtures, now_ms)?;
        check_fixture_cas(&fixtures, &source.dir()).map_err(|e| FixturesFileError::Root {
            name: source.name.clone(),
            source: Box::new(e),
        })?;
        Ok(source)
    }

    /// The directory the file's relative paths start from.
    pub fn dir(&self) -> PathBuf {
        self.origin
            .path()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."))
            .to_path_buf()
    }
}

/// Reads and parses fixtures; the error names the file and the problem.
pub(crate) fn read_fixtures(
    origin: &FixturesOrigin,
) -> Result<(String, Fixtures), FixturesFileError> {
    let (name, text) = match origin {
        FixturesOrigin::BuiltIn => (
            DEFAULT_FIXTURES_NAME.to_string(),
            DEFAULT_FIXTURES.to_string(),
        ),
        FixturesOrigin::File(p) => (
            p.display().to_string(),
            read_file(p).map_err(FixturesFileError::Read)?,
        ),
        FixturesOrigin::Json(text) => (INLINE_FIXTURES_NAME.to_string(), text.to_string()),
    };
    match Fixtures::parse(&text) {
        Ok(fixtures) => Ok((name, fixtures)),
        Err(source) => Err(FixturesFileError::Invalid { name, source }),
    }
}

pub(crate) fn read_file(path: &Path) -> Result<String, ReadError> {
    std::fs::read_to_string(path).map_err(|source| ReadError {
        path: path.to_path_buf(),
        source,
    })
}

/// Where one root comes from: flags first, then the fixtures' `ca` section, then the shipped test CA.
pub(crate) fn load_ca(
    authority: Authority,
    config: &Config,
    ca_fixture: Option<&CaFixture>,
    fixtures_dir: &Path,
    now_ms: i64,
) -> Result<Ca, LoadRootError> {
    let flags = match authority {
        Authority::Rsa => (config.rsa_ca_cert.as_ref(), config.rsa_ca_key.as_ref()),
        Authority::Ecc => (config.ecc_ca_cert.as_ref(), config.ecc_ca_key.as_ref()),
    };
    let material = if let (Some(cert), Some(key)) = flags {
        keys::import(authority, &read_file(cert)?, &read_file(key)?).map_err(|source| {
            LoadRootError::Import {
                authority,
                cert: cert.clone(),
                source,
            }
        })?
    } else if config.fresh_ca || ca_fixture.is_some_and(|c| c.generate) {
        keys::generate(authority, now_ms)
            .map_err(|source| LoadRootError::Build { authority, source })?
    } else if let Some(files) = ca_fixture.and_then(|c| fixture_files(c, authority)) {
        import_fixture_ca(authority, files, fixtures_dir)?
    } else {
        keys::shipped(authority)
    };
    Ca::new(authority, material).map_err(|source| LoadRootError::Build { authority, source })
}

fn fixture_files(ca: &CaFixture, authority: Authority) -> Option<&CaFiles> {
    match authority {
        Authority::Rsa => ca.rsa.as_ref(),
        Authority::Ecc => ca.ecc.as_ref(),
    }
}

/// A root named by a fixtures file's `ca` section, paths relative to the file.
fn import_fixture_ca(
    authority: Authority,
    files: &CaFiles,
    fixtures_dir: &Path,
) -> Result<keys::Material, LoadRootError> {
    let cert = fixtures_dir.join(&files.cert);
    let key = fixtures_dir.join(&files.key);
    keys::import(authority, &read_file(&cert)?, &read_file(&key)?).map_err(|source| {
        LoadRootError::Import {
            authority,
            cert,
            source,
        }
    })
}

/// Checks the roots a fixtures file names, as start-up would load them.
fn check_fixture_cas(fixtures: &Fixtures, dir: &Path) -> Result<(), LoadRootError> {
    let Some(ca) = fixtures.ca.as_ref() else {
        return Ok(());
    };
    for authority in Authority::ALL {
        if let Some(files) = fixture_files(ca, authority) {
            import_fixture_ca(authority, files, dir)?;
        }
    }
    Ok(())
}
