//! What stops the generator (a device that does not get in is not an error: it is counted).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FleetError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a fleet file: {source}")]
    FleetFile {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{call}: {source}")]
    Http {
        call: String,
        source: reqwest::Error,
    },
    #[error("{call} answered HTTP {status}: {body}")]
    Refused {
        call: String,
        status: u16,
        body: String,
    },
    #[error("{what}: {detail}")]
    Key { what: String, detail: String },
    #[error("TLS set-up: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Usage(String),
}
