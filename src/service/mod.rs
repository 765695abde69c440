//! The EnOS operations: the domain's rules applied in contract order, with the
//! CA doing the signing. No HTTP here. Certificates are here; products and
//! devices in `registry`.

mod bulk;
mod registry;

pub use bulk::{BulkLoaded, BulkSpec};
pub use registry::{NewDevice, NewProduct};

use std::sync::Arc;

use parking_lot::RwLock;

use crate::auth::Gateway;
use crate::ca::csr::{check_csr, request_from_record, CertRequest};
use crate::ca::{IssueRequest, Roots};
use crate::clock::Clock;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::faults::Faults;
use crate::domain::fixtures::{Fixtures, Loaded};
use crate::domain::ids::Ids;
use crate::domain::model::{
    Authority, CertRecord, CertStatus, DeviceId, Revocation, RevocationReason,
};
use crate::domain::rules::{org_access, resolve_valid_day, validity_window};
use crate::domain::store::{DeviceContext, IssueCheck, Store};
use crate::journal::Journal;

/// What renew does with the certificate it replaces (B6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RenewPolicy {
    /// Revoke it with reason SUPERSEDED, revoker IoT_Hub.
    Revoke,
    /// Leave it valid.
    Keep,
}

/// The revoker EnOS records for revocations it does itself.
pub const SERVICE_REVOKER: &str = "IoT_Hub";

/// Who is calling and about which device.
#[derive(Debug, Clone)]
pub struct Target {
    pub org_id: String,
    pub device: DeviceId,
    /// The authenticated app, when there is one (revoker of API revokes, B14).
    pub app_key: Option<String>,
    /// The org of the authenticated app: any other org is denied (B10).
    pub caller_org: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApplyParams {
    pub csr: String,
    pub valid_day: Option<i64>,
    pub authority: Option<Authority>,
}

#[derive(Debug, Clone)]
pub struct RenewParams {
    pub cert_sn: u64,
    pub csr: Option<String>,
    pub valid_day: Option<i64>,
    pub authority: Option<Authority>,
}

#[derive(Debug, Clone)]
pub struct RevokeParams {
    pub cert_sn: u64,
    pub reason: RevocationReason,
}

/// Apply's and renew's `data`.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_chain_url: String,
    pub cert: Arc<str>,
    pub cert_sn: u64,
    pub ca_cert: Arc<str>,
    pub authority: Authority,
}

/// One row of List, with its status judged now.
#[derive(Debug, Clone)]
pub struct ListedCert {
    pub record: CertRecord,
    pub status: CertStatus,
}

/// Where the fixtures came from, and what they declared (for reset, reload and health).
#[derive(Debug, Clone)]
pub struct FixturesSource {
    /// The file, or `None` for the built-in default.
    pub path: Option<std::path::PathBuf>,
    pub name: String,
    pub loaded: Loaded,
}

pub struct Service {
    pub clock: Arc<Clock>,
    pub store: Store,
    pub cas: Roots,
    pub ids: Ids,
    pub faults: Faults,
    pub journal: Journal,
    pub public_url: String,
    pub renew_policy: RenewPolicy,
    /// Gateway authentication and the token service's state.
    pub gateway: Gateway,
    pub fixtures: RwLock<FixturesSource>,
}

impl Service {
    pub fn cert_chain_url(&self, authority: Authority) -> String {
        format!("{}/enos/CA/cacert/{}", self.public_url, authority.as_str())
    }

    pub fn crl_url(&self, authority: Authority) -> String {
        format!("{}/enos/CA/crl/{}", self.public_url, authority.as_str())
    }

    /// Everything back to the loaded fixtures: state, clock, faults, journal,
    /// identifiers; issued tokens forgotten.
    pub fn reset(&self) {
        self.store.reset(&self.fixtures.read().loaded);
        self.clock.reset();
        self.faults.clear();
        self.journal.clear();
        self.ids.reset();
        self.gateway.reset();
    }

    /// Re-reads the fixtures file and resets to it. A broken file changes nothing.
    /// The roots were loaded at start-up and stay; a `ca` section is only checked.
    pub fn reload(&self) -> Result<(), String> {
        let path = self.fixtures.read().path.clone();
        let (name, fixtures) = crate::read_fixtures(path.as_deref())?;
        let loaded = load_fixtures(&fixtures, &name, self.clock.now_ms())?;
        crate::check_fixture_cas(&fixtures, path.as_deref())
            .map_err(|e| format!("fixtures file {name}: {e}"))?;
        *self.fixtures.write() = FixturesSource { path, name, loaded };
        self.reset();
        Ok(())
    }

    /// Existence (org, device), then org access, then the product's bi-directional flag.
    fn device(&self, target: &Target, bi_directional: bool) -> Result<DeviceContext, EnosError> {
        let ctx = self.store.device_context(&target.org_id, &target.device)?;
        org_access(target.caller_org.as_deref(), &target.org_id)?;
        if bi_directional && !ctx.product.bi_directional_auth {
            return Err(EnosError::new(ErrorKey::NotBiDirectional));
        }
        Ok(ctx)
    }

    pub async fn apply(
        &self,
        target: &Target,
        params: ApplyParams,
    ) -> Result<IssuedCert, EnosError> {
        let ctx = self.device(target, true)?;
        let _guard = ctx.lock(&self.store).await?;
        let authority = params.authority.unwrap_or(Authority::Rsa);
        let request = check_csr(&params.csr, authority)?;
        self.issue(&ctx, request, params.valid_day, true, None)
            .await
    }

    pub async fn renew(
        &self,
        target: &Target,
        params: RenewParams,
    ) -> Result<IssuedCert, EnosError> {
        let ctx = self.device(target, true)?;
        let _guard = ctx.lock(&self.store).await?;
        let old = self.store.bound_cert(&ctx.asset_id, params.cert_sn)?;
        match old.status(self.clock.now_ms()) {
            CertStatus::Revoked => return Err(EnosError::new(ErrorKey::CertRevoked)),
            CertStatus::Expired => return Err(EnosError::new(ErrorKey::CertExpired)),
            CertStatus::Valid => {}
        }
        // B13: without an explicit authority the renewal keeps the old one.
        let authority = params.authority.unwrap_or(old.authority);
        let request = match &params.csr {
            Some(csr) => check_csr(csr, authority)?,
            None => request_from_record(&old, authority)?,
        };
        let supersede = (self.renew_policy == RenewPolicy::Revoke).then(|| {
            (
                old.serial,
                Revocation {
                    at_ms: self.clock.now_ms(),
                    reason: RevocationReason::Superseded,
                    revoker: SERVICE_REVOKER.to_string(),
                },
            )
        });
        self.issue(&ctx, request, params.valid_day, false, supersede)
            .await
    }

    /// validDay, the root's lifetime, conflicts, then the signature itself.
    async fn issue(
        &self,
        ctx: &DeviceContext,
        request: CertRequest,
        valid_day: Option<i64>,
        unique_subject: bool,
        supersede: Option<(u64, Revocation)>,
    ) -> Result<IssuedCert, EnosError> {
        let authority = request.authority;
        let ca = self.cas.get(authority);
        let days = resolve_valid_day(valid_day, &ctx.product)?;
        let now_ms = self.clock.now_ms();
        let (not_before_ms, not_after_ms) = validity_window(now_ms, days, ca.not_after_ms)
            .ok_or_else(|| {
                EnosError::call_ca(
                    400,
                    "the root CA certificate has expired",
                    &format!(
                        "{} root expired at {}",
                        authority.as_str(),
                        crate::clock::rfc3339(ca.not_after_ms)
                    ),
                )
            })?;
        let reservation = self.store.reserve(
            IssueCheck {
                asset_id: &ctx.asset_id,
                authority,
                common_name: &request.common_name,
                public_key: &request.public_key,
                unique_subject,
            },
            now_ms,
        )?;
        let issued = ca.issue(IssueRequest {
            serial: reservation.serial,
            subject: request.subject,
            public_key: &request.public_key,
            not_before_ms,
            not_after_ms,
            crl_url: self.crl_url(authority),
        });
        let issued = match issued {
            Ok(issued) => issued,
            Err(e) => {
                self.store.release(&reservation);
                tracing::error!(error = %e, "issuing failed");
                return Err(EnosError::new(ErrorKey::CertServiceInternal));
            }
        };
        let pem: Arc<str> = Arc::from(issued.pem);
        let record = CertRecord {
            serial: reservation.serial,
            asset_id: ctx.asset_id.clone(),
            authority,
            pem: pem.clone(),
            issuer: ca.subject.clone(),
            subject: request.subject_text,
            common_name: request.common_name,
            public_key: request.public_key,
            sign_date_ms: now_ms,
            not_before_ms: issued.not_before_ms,
            not_after_ms: issued.not_after_ms,
            revocation: None,
        };
        self.store.commit(&reservation, record, supersede)?;
        Ok(IssuedCert {
            cert_chain_url: self.cert_chain_url(authority),
            cert: pem,
            cert_sn: reservation.serial,
            ca_cert: ca.cert_pem.clone(),
            authority,
        })
    }

    pub async fn revoke(&self, target: &Target, params: RevokeParams) -> Result<(), EnosError> {
        let ctx = self.device(target, false)?;
        let _guard = ctx.lock(&self.store).await?;
        let cert = self.store.bound_cert(&ctx.asset_id, params.cert_sn)?;
        let detail = format!("certSn {}", cert.serial);
        let now_ms = self.clock.now_ms();
        match cert.status(now_ms) {
            CertStatus::Revoked => Err(EnosError::call_ca(
                400,
                "the certificate has already been revoked",
                &detail,
            )),
            CertStatus::Expired => Err(EnosError::call_ca(
                400,
                "the certificate has expired",
                &detail,
            )),
            CertStatus::Valid => {
                let revoker = target
                    .app_key
                    .clone()
                    .unwrap_or_else(|| target.org_id.clone());
                self.store.revoke(
                    cert.serial,
                    Revocation {
                        at_ms: now_ms,
                        reason: params.reason,
                        revoker,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn list(&self, target: &Target) -> Result<Vec<ListedCert>, EnosError> {
        let ctx = self.device(target, false)?;
        let now_ms = self.clock.now_ms();
        Ok(self
            .store
            .device_certs(&ctx.asset_id)
            .into_iter()
            .map(|record| ListedCert {
                status: record.status(now_ms),
                record,
            })
            .collect())
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

/// Builds the model from parsed fixtures; the error names the file.
pub fn load_fixtures(fixtures: &Fixtures, name: &str, now_ms: i64) -> Result<Loaded, String> {
    fixtures
        .load(now_ms)
        .map_err(|e| format!("fixtures file {name}: {e}"))
}
