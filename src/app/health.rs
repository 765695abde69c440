//! What `GET /__admin/health` reports: the loaded fixtures, the roots, the clock,
//! table sizes and the settings the mock runs with.

use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::AuthMode;
use crate::ca::{Ca, LeafProfile};
use crate::clock::{rfc3339, Clock};
use crate::domain::model::{Authority, Device, Org, Product};
use crate::domain::rules::DAY_MS;
use crate::domain::store::Counts;
use crate::service::RenewPolicy;

use super::App;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Health {
    status: &'static str,
    version: &'static str,
    fixtures_file: String,
    #[schema(value_type = Object)]
    fixtures: FixturesView,
    #[schema(value_type = Vec<Object>)]
    cas: Vec<RootHealth>,
    clock: ClockView,
    #[schema(value_type = Object)]
    counts: Counts,
    #[schema(value_type = String)]
    renew_policy: RenewPolicy,
    /// `--leaf-profile`: `enos` or `strict`.
    #[schema(value_type = String)]
    leaf_profile: LeafProfile,
    /// `--seed` (null without one); left out of the public answer: with it, generated
    /// secrets can be worked out.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<u64>)]
    seed: Option<Option<u64>>,
    /// Whether `/__admin` needs `--admin-token`; without the token this answer leaves
    /// out the secrets (app secrets, the seed).
    admin_token: bool,
    faults: usize,
    #[schema(value_type = Object)]
    journal: JournalView,
    #[schema(value_type = String)]
    auth: AuthMode,
    /// The base of certChainURL and CRL links; the fallback when `links_from_host`.
    public_url: String,
    #[schema(value_type = Object)]
    mqtt: super::sessions::Ports,
    /// Bound to a wildcard address without `--public-url`: links follow each call's `Host`.
    links_from_host: bool,
}

#[derive(Serialize)]
struct FixturesView {
    orgs: Vec<OrgView>,
    products: Vec<ProductView>,
    devices: Vec<DeviceView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OrgView {
    org_id: String,
    apps: Vec<AppView>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AppView {
    app_key: String,
    /// Absent from the public answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    app_secret: Option<String>,
}

impl OrgView {
    fn of(org: &Org, public: bool) -> OrgView {
        OrgView {
            org_id: org.org_id.clone(),
            apps: org
                .apps
                .iter()
                .map(|a| AppView {
                    app_key: a.app_key.clone(),
                    app_secret: (!public).then(|| a.app_secret.clone()),
                })
                .collect(),
        }
    }
}

/// A product, as health and the state view show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ProductView {
    org_id: String,
    product_key: String,
    bi_directional_auth: bool,
    default_valid_day: u32,
    max_valid_day: u32,
}

/// A device's names, as health and the state view show them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeviceView {
    org_id: String,
    asset_id: String,
    product_key: String,
    device_key: String,
}

/// A root, as health and the state view show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RootView {
    issue_authority: &'static str,
    subject: String,
    fingerprint_sha256: String,
    not_before: String,
    not_after: String,
}

/// A root in health: with the days it has left on the mock clock.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RootHealth {
    #[serde(flatten)]
    root: RootView,
    remaining_days: i64,
}

/// The mock clock as the control plane shows it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockView {
    now: String,
    offset_seconds: i64,
}

#[derive(Serialize)]
struct JournalView {
    entries: usize,
    capacity: usize,
}

impl ClockView {
    pub fn of(clock: &Clock) -> ClockView {
        ClockView {
            now: rfc3339(clock.now_ms()),
            offset_seconds: clock.offset_seconds(),
        }
    }
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        ProductView {
            org_id: p.org_id.clone(),
            product_key: p.product_key.clone(),
            bi_directional_auth: p.bi_directional_auth,
            default_valid_day: p.default_valid_day,
            max_valid_day: p.max_valid_day,
        }
    }
}

impl From<&Device> for DeviceView {
    fn from(d: &Device) -> Self {
        DeviceView {
            org_id: d.org_id.clone(),
            asset_id: d.asset_id.clone(),
            product_key: d.product_key.clone(),
            device_key: d.device_key.clone(),
        }
    }
}

impl From<&Ca> for RootView {
    fn from(ca: &Ca) -> Self {
        RootView {
            issue_authority: ca.authority.as_str(),
            subject: ca.subject.to_string(),
            fingerprint_sha256: ca.fingerprint.clone(),
            not_before: rfc3339(ca.not_before_ms),
            not_after: rfc3339(ca.not_after_ms),
        }
    }
}

impl RootHealth {
    fn of(ca: &Ca, now_ms: i64) -> RootHealth {
        RootHealth {
            root: RootView::from(ca),
            remaining_days: (ca.not_after_ms - now_ms).max(0) / DAY_MS,
        }
    }
}

impl Health {
    /// The whole answer, or with `public` (no admin token given when one is set) the
    /// answer without secrets: app secrets and the seed.
    pub fn of(app: &App, public: bool) -> Health {
        let service = &app.service;
        let fixtures = app.fixtures.read();
        let loaded = &fixtures.loaded;
        let now_ms = app.clock.now_ms();
        Health {
            status: "ok",
            version: env!("CARGO_PKG_VERSION"),
            fixtures_file: fixtures.name.clone(),
            fixtures: FixturesView {
                orgs: loaded.orgs.iter().map(|o| OrgView::of(o, public)).collect(),
                products: loaded.products.iter().map(ProductView::from).collect(),
                devices: loaded.devices.iter().map(DeviceView::from).collect(),
            },
            cas: Authority::ALL
                .into_iter()
                .map(|authority| RootHealth::of(service.root(authority), now_ms))
                .collect(),
            clock: ClockView::of(&app.clock),
            counts: service.counts(),
            renew_policy: service.renew_policy(),
            leaf_profile: service.leaf_profile(),
            seed: (!public).then(|| service.seed()),
            admin_token: app.guard.has_token(),
            faults: app.faults.list().len(),
            journal: JournalView {
                entries: app.journal.len(),
                capacity: app.journal.capacity(),
            },
            auth: app.gateway.mode(),
            public_url: service.links().public_url().to_string(),
            mqtt: app.sessions.ports(),
            links_from_host: service.links().follows_host(),
        }
    }
}
