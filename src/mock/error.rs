//! Why the mock could not start. The messages are what the binary prints after
//! `cannot start: `, so they name the file or address and the problem.

/// A start-up failure, by what failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The fixtures could not be read, parsed or built into the model.
    #[error("{0}")]
    Fixtures(String),
    /// A root CA (from flags, the fixtures' `ca` section or generated) could not be loaded.
    #[error("{0}")]
    Ca(String),
    /// The Poseidon key could not be read or parsed.
    #[error("{0}")]
    PoseidonKey(String),
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
