//! The EnOS core: the operations over the store and the two CAs, each in the
//! contract's order, on the one mock clock. No HTTP here, and nothing only tests
//! control (faults, journal, gateway: see `app`): every transport calls these.
//! Certificates are in `certificates`; products and devices in `registry`.

pub(crate) mod bulk;
mod certificates;
pub mod conversation;
pub mod links;
mod registry;

pub use bulk::{BulkLoaded, BulkSpec};
pub use certificates::{CertArgs, CertParams, IssuedCert, ListedCert};
pub use registry::{NewDevice, NewProduct};

use std::sync::Arc;

use serde::Serialize;

use crate::ca::{LeafProfile, Roots};
use crate::clock::Clock;
use crate::domain::fixtures::Loaded;
use crate::domain::ids::Ids;
use crate::domain::model::{Authority, Caller};
use crate::domain::store::Store;
use crate::persist::Persist;

use links::CaLinks;

/// What renew does with the certificate it replaces (B6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RenewPolicy {
    /// Revoke it with reason SUPERSEDED, revoker IoT_Hub.
    Revoke,
    /// Leave it valid.
    Keep,
}

impl RenewPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RenewPolicy::Revoke => "revoke",
            RenewPolicy::Keep => "keep",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            RenewPolicy::Revoke => "Revoke it with reason SUPERSEDED, revoker IoT_Hub",
            RenewPolicy::Keep => "Leave it valid",
        }
    }
}

/// The revoker EnOS records for revocations it does itself.
pub const SERVICE_REVOKER: &str = "IoT_Hub";

/// Who is calling, in which org: what every operation starts from.
#[derive(Debug, Clone)]
pub struct Target {
    pub org_id: String,
    /// The authenticated app, when there is one: it may only touch its own org (B10)
    /// and is the revoker of its revocations (B14).
    pub caller: Option<Caller>,
    /// How the client named the mock (its `Host` header): the base of the links in
    /// what is issued when the mock has no fixed public URL.
    pub host: Option<String>,
}

/// The EnOS core.
pub struct Service {
    pub clock: Arc<Clock>,
    pub store: Store,
    pub cas: Roots,
    pub ids: Ids,
    pub renew_policy: RenewPolicy,
    pub links: CaLinks,
    /// The extensions of issued device certificates (`--leaf-profile`).
    pub leaf_profile: LeafProfile,
    /// Announces revocations to transports that act on live uses of a certificate.
    pub revocations: Revocations,
    /// The state file (`--state`), when there is one.
    pub persist: Option<Arc<Persist>>,
    /// Devices online: gateways' topologies, sub-device logins, thing models.
    pub conversation: conversation::Conversation,
}

/// Counts revocations (revoke, renew superseding, device delete): a transport that must act on
/// them at once (the MQTT broker's `--mqtt-drop-on-revoke`) watches the count instead of
/// the core knowing about transports.
#[derive(Debug)]
pub struct Revocations(tokio::sync::watch::Sender<u64>);

impl Default for Revocations {
    fn default() -> Self {
        Revocations(tokio::sync::watch::channel(0).0)
    }
}

impl Revocations {
    fn announce(&self) {
        self.0.send_modify(|n| *n += 1);
    }

    /// Changes after every revocation.
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}

impl Service {
    /// State, clock and identifiers back to `loaded`.
    pub fn reset(&self, loaded: &Loaded) {
        self.store.reset(loaded);
        self.conversation.reset(loaded);
        self.clock.reset();
        self.ids.reset();
    }

    /// Returns once every change made so far is in the state file (at once without
    /// one). The HTTP layer waits on it before every answer (MQTT changes nothing), so
    /// what a client is told, or shown, survives a crash.
    pub async fn durable(&self) -> Result<(), String> {
        match &self.persist {
            Some(persist) => persist.durable().await,
            None => Ok(()),
        }
    }

    /// The CRL of one root as it stands now, DER and PEM.
    pub fn crl(&self, authority: Authority) -> Result<(Arc<[u8]>, Arc<str>), String> {
        let generation = (self.store.crl_generation(), self.clock.generation());
        self.cas
            .get(authority)
            .crl(generation, self.clock.now_ms(), || {
                self.store.revoked(authority).1
            })
    }
}
