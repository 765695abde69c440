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

use crate::ca::{Ca, LeafProfile, Roots, SignError};
use crate::clock::Clock;
use crate::domain::fixtures::Loaded;
use crate::domain::ids::Ids;
use crate::domain::model::{
    Application, Authority, CallerApp, Device, DeviceId, DeviceNames, Org, Product, RevokedEntry,
};
use crate::domain::rules::{check_new_org, OrgError};
use crate::domain::store::{Counts, DevicePage, Store};
use crate::domain::Serial;
use crate::persist::{Persist, SaveError};

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
pub struct CallerContext {
    pub org_id: String,
    /// The authenticated app, when there is one: it may only touch its own org (B10)
    /// and is the revoker of its revocations (B14).
    pub app: Option<CallerApp>,
    /// How the client named the mock (its `Host` header): the base of the links in
    /// what is issued when the mock has no fixed public URL.
    pub host: Option<String>,
}

/// The EnOS core. Its state is private: transports and the control plane call the
/// operations below (and in `certificates`, `registry`, `conversation`, `bulk`), so no
/// route can skip a rule by writing to the store itself.
pub struct Service {
    clock: Arc<Clock>,
    store: Store,
    cas: Roots,
    ids: Ids,
    renew_policy: RenewPolicy,
    links: CaLinks,
    /// The extensions of issued device certificates (`--leaf-profile`).
    leaf_profile: LeafProfile,
    /// Announces revocations to transports that act on live uses of a certificate.
    revocations: Revocations,
    /// The state file (`--state`), when there is one.
    persist: Option<Arc<Persist>>,
    /// Devices online: gateways' topologies, sub-device logins, thing models.
    conversation: conversation::Conversation,
}

/// What a [`Service`] is made of, at start-up.
pub struct ServiceParts {
    pub clock: Arc<Clock>,
    pub store: Store,
    pub cas: Roots,
    pub ids: Ids,
    pub renew_policy: RenewPolicy,
    pub links: CaLinks,
    pub leaf_profile: LeafProfile,
    pub persist: Option<Arc<Persist>>,
    /// The fixtures the conversation's state (thing models) starts from.
    pub loaded: Loaded,
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
    pub fn new(parts: ServiceParts) -> Service {
        Service {
            conversation: conversation::Conversation::new(&parts.loaded),
            clock: parts.clock,
            store: parts.store,
            cas: parts.cas,
            ids: parts.ids,
            renew_policy: parts.renew_policy,
            links: parts.links,
            leaf_profile: parts.leaf_profile,
            revocations: Revocations::default(),
            persist: parts.persist,
        }
    }

    /// State, clock and identifiers back to `loaded`.
    pub fn reset(&self, loaded: &Loaded) {
        self.store.reset(loaded);
        self.conversation.reset(loaded);
        self.clock.reset();
        self.ids.reset();
    }

    /// Returns once every change made so far is in the state file (at once without
    /// one). The HTTP layer waits on it before every answer, and a device's reply waits on
    /// it when its request changed the store, so what a client is told, or shown, survives
    /// a crash.
    pub async fn saved(&self) -> Result<(), SaveError> {
        match &self.persist {
            Some(persist) => persist.saved().await,
            None => Ok(()),
        }
    }

    /// Whether changes go to a state file (`--state`).
    pub fn has_state_file(&self) -> bool {
        self.persist.is_some()
    }

    /// The CRL of one root as it stands now, DER and PEM.
    pub fn crl(&self, authority: Authority) -> Result<(Arc<[u8]>, Arc<str>), SignError> {
        let generation = (self.store.crl_generation(), self.clock.generation());
        self.cas
            .get(authority)
            .crl(generation, self.clock.now_ms(), || {
                self.store.revoked(authority).1
            })
    }

    /// The root of one authority: its certificate, subject, fingerprint and key.
    pub fn root(&self, authority: Authority) -> &Ca {
        self.cas.get(authority)
    }

    /// Whether the mock has revoked this certificate of `authority` (superseded counts);
    /// false for a serial it never issued.
    pub fn is_revoked(&self, authority: Authority, serial: Serial) -> bool {
        self.store
            .cert(serial)
            .is_some_and(|c| c.authority == authority && c.revocation.is_some())
    }

    /// Changes after every revocation (revoke, renew superseding, device delete).
    pub fn watch_revocations(&self) -> tokio::sync::watch::Receiver<u64> {
        self.revocations.watch()
    }

    /// A new requestId.
    pub fn request_id(&self) -> String {
        self.ids.uuid()
    }

    /// `--seed`, if set.
    pub fn seed(&self) -> Option<u64> {
        self.ids.seed()
    }

    pub fn renew_policy(&self) -> RenewPolicy {
        self.renew_policy
    }

    pub fn leaf_profile(&self) -> LeafProfile {
        self.leaf_profile
    }

    /// The URLs issued certificates carry.
    pub fn links(&self) -> &CaLinks {
        &self.links
    }

    /// Both names of a device the store knows.
    pub fn device_names(&self, device: &DeviceId) -> Option<DeviceNames> {
        self.store.device_names(device)
    }

    /// Table sizes.
    pub fn counts(&self) -> Counts {
        self.store.counts()
    }

    /// The declared orgs and their apps, by orgId.
    pub fn orgs(&self) -> Vec<Org> {
        self.store.orgs()
    }

    /// Declares an org with its apps, or replaces the apps of one (the control plane's
    /// `POST /__admin/orgs`): a name, apps with both halves, each appKey in one org only.
    pub fn declare_org(&self, org: Org) -> Result<(), OrgError> {
        check_new_org(&org)?;
        self.store.upsert_org(org)
    }

    /// Every product, by org and key, with how many devices it has.
    pub fn products(&self) -> Vec<(Product, usize)> {
        self.store.products()
    }

    /// The devices `matches` accepts, one page of them, with their certificates.
    pub fn device_page(
        &self,
        matches: impl Fn(&Device) -> bool,
        offset: usize,
        limit: usize,
    ) -> DevicePage {
        self.store.device_page(matches, offset, limit)
    }

    /// The certificates one root has revoked, in revocation order.
    pub fn revoked(&self, authority: Authority) -> Vec<RevokedEntry> {
        self.store.revoked(authority).1
    }
}

impl crate::auth::Apps for Service {
    fn app(&self, app_key: &str) -> Option<(String, Application)> {
        self.store.app(app_key)
    }
}
