//! Why the mock could not start. The messages are what the binary prints after
//! `cannot start: `, so they name the file or address and the problem.

use crate::app::fixtures_source::{FixturesFileError, LoadRootError, ReadError};
use crate::auth::poseidon::NotAnRsaKey;

/// Why the Poseidon key (`--poseidon-key`) cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PoseidonKeyError {
    #[error("poseidon key {0}")]
    Read(ReadError),
    #[error("poseidon key {name}: {source}")]
    Parse { name: String, source: NotAnRsaKey },
}

/// A start-up failure, by what failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The fixtures could not be read, parsed or built into the model.
    #[error(transparent)]
    Fixtures(#[from] FixturesFileError),
    /// A root CA (from flags, the fixtures' `ca` section or generated) could not be loaded.
    #[error(transparent)]
    Ca(#[from] LoadRootError),
    /// The Poseidon key could not be read or parsed.
    #[error(transparent)]
    PoseidonKey(#[from] PoseidonKeyError),
    /// The address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    /// An MQTT listener could not be bound (a port set explicitly is in use, or another
    /// failure).
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::broker::ListenError),
    /// The state file (`--state`) is in use by another mock, could not be opened, or
    /// belongs to other roots or another schema version.
    #[error(transparent)]
    State(#[from] crate::persist::StateError),
    /// The bound socket has no local address.
    #[error(transparent)]
    Address(std::io::Error),
}
