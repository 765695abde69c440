//! Apply, Renew, Revoke and List. Each is one function that reads top to bottom in
//! the contract's order, calling the checks it names; which error a client sees for
//! which input follows from that order. Before these steps the transport has checked
//! what every EnOS call shares: the action, injected faults, the method and `orgId`.

use std::sync::Arc;

use crate::ca::csr::{check_csr, request_from_record, CertRequest};
use crate::ca::{IssueRequest, LeafDevice};
use crate::domain::actions::CertAction;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::DeviceId;
use crate::domain::model::{
    Authority, CertRecord, CertStatus, Product, Revocation, RevocationReason,
};
use crate::domain::rules::{org_access, resolve_valid_day, validity_window};
use crate::domain::store::{DeviceContext, IssueCheck, Reservation};
use crate::domain::Serial;

use super::{CallerContext, RenewPolicy, Service, SERVICE_REVOKER};

/// A certificate call's parameters as its transport reads them. Each read is a check
/// of its own (B2, B3), made when the contract's order reaches it.
pub trait CertParams {
    /// `assetId`, or `productKey` + `deviceKey`.
    fn device(&self) -> Result<DeviceId, EnosError>;
    /// The body can be read at all; comes before any field of it.
    fn body(&self) -> Result<(), EnosError>;
    /// `csr`, when given.
    fn csr(&self) -> Result<Option<String>, EnosError>;
    fn valid_day(&self) -> Result<Option<i64>, EnosError>;
    fn authority(&self) -> Result<Option<Authority>, EnosError>;
    /// The certificate the action is about (renew and revoke spell it differently).
    fn serial(&self, action: CertAction) -> Result<Serial, EnosError>;
    fn reason(&self) -> Result<RevocationReason, EnosError>;
}

/// Parameters already typed: for library users and in-process callers.
#[derive(Debug, Clone)]
pub struct CertArgs {
    pub device: DeviceId,
    pub csr: Option<String>,
    pub valid_day: Option<i64>,
    pub authority: Option<Authority>,
    pub serial: Option<Serial>,
    pub reason: RevocationReason,
}

impl CertArgs {
    /// No parameter but the device.
    pub fn device(device: DeviceId) -> CertArgs {
        CertArgs {
            device,
            csr: None,
            valid_day: None,
            authority: None,
            serial: None,
            reason: RevocationReason::Unspecified,
        }
    }
}

impl CertParams for CertArgs {
    fn device(&self) -> Result<DeviceId, EnosError> {
        Ok(self.device.clone())
    }
    fn body(&self) -> Result<(), EnosError> {
        Ok(())
    }
    fn csr(&self) -> Result<Option<String>, EnosError> {
        Ok(self.csr.clone())
    }
    fn valid_day(&self) -> Result<Option<i64>, EnosError> {
        Ok(self.valid_day)
    }
    fn authority(&self) -> Result<Option<Authority>, EnosError> {
        Ok(self.authority)
    }
    fn serial(&self, _: CertAction) -> Result<Serial, EnosError> {
        self.serial
            .ok_or_else(|| EnosError::new(ErrorKey::CertSnMissing))
    }
    fn reason(&self) -> Result<RevocationReason, EnosError> {
        Ok(self.reason)
    }
}

/// Apply's and renew's `data`.
#[derive(Debug, Clone)]
pub struct IssuedCert {
    pub cert_chain_url: String,
    pub cert: Arc<str>,
    pub serial: Serial,
    pub ca_cert: Arc<str>,
    pub authority: Authority,
}

/// One row of List, with its status judged now.
#[derive(Debug, Clone)]
pub struct ListedCert {
    pub record: CertRecord,
    pub status: CertStatus,
}

/// Whether a new certificate's CN must be free among the valid ones of its authority (B5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// Apply: a CN in a valid certificate is a duplicate subject.
    MustBeUnique,
    /// Renew: the replacement carries the old certificate's CN.
    MayRepeat,
}

/// The certificate a renewal replaces, under the renew policy (B6).
type Superseded = Option<(Serial, Revocation)>;

impl Service {
    pub async fn apply(
        &self,
        caller: &CallerContext,
        params: &impl CertParams,
    ) -> Result<IssuedCert, EnosError> {
        let device = params.device()?;
        params.body()?;
        let csr = params
            .csr()?
            .ok_or_else(|| EnosError::new(ErrorKey::CsrMissing))?;
        let valid_day = params.valid_day()?;
        let authority = params.authority()?.unwrap_or(Authority::Rsa);
        let ctx = self.device_of(caller, &device)?;
        require_bi_directional(&ctx.product)?;
        let _turn = ctx.lock(&self.store).await?;
        let request = check_csr(&csr, authority)?;
        let days = resolve_valid_day(valid_day, &ctx.product)?;
        let window = self.validity(authority, days)?;
        let reservation = self.reserve(&ctx, &request, Subject::MustBeUnique)?;
        self.sign(caller, &ctx, request, window, reservation, None)
    }

    pub async fn renew(
        &self,
        caller: &CallerContext,
        params: &impl CertParams,
    ) -> Result<IssuedCert, EnosError> {
        let device = params.device()?;
        params.body()?;
        let serial = params.serial(CertAction::Renew)?;
        let csr = params.csr()?;
        let valid_day = params.valid_day()?;
        let authority = params.authority()?;
        let ctx = self.device_of(caller, &device)?;
        require_bi_directional(&ctx.product)?;
        let _turn = ctx.lock(&self.store).await?;
        let old = self.store.bound_cert(&ctx.asset_id, serial)?;
        self.require_renewable(&old)?;
        // B13: without an explicit authority the renewal keeps the old one.
        let authority = authority.unwrap_or(old.authority);
        let request = match &csr {
            Some(csr) => check_csr(csr, authority)?,
            None => request_from_record(&old, authority)?,
        };
        let days = resolve_valid_day(valid_day, &ctx.product)?;
        let window = self.validity(authority, days)?;
        let reservation = self.reserve(&ctx, &request, Subject::MayRepeat)?;
        let superseded = self.superseded(&old);
        self.sign(caller, &ctx, request, window, reservation, superseded)
    }

    pub async fn revoke(
        &self,
        caller: &CallerContext,
        params: &impl CertParams,
    ) -> Result<(), EnosError> {
        let device = params.device()?;
        params.body()?;
        let serial = params.serial(CertAction::Revoke)?;
        let reason = params.reason()?;
        let ctx = self.device_of(caller, &device)?;
        let _turn = ctx.lock(&self.store).await?;
        let cert = self.store.bound_cert(&ctx.asset_id, serial)?;
        let now_ms = self.clock.now_ms();
        require_revocable(&cert, now_ms)?;
        let revoker = match &caller.app {
            Some(app) => app.app_key.clone(),
            None => caller.org_id.clone(),
        };
        let revocation = Revocation {
            at_ms: now_ms,
            reason,
            revoker,
        };
        self.store.revoke(cert.serial, revocation);
        self.revocations.announce();
        Ok(())
    }

    pub fn list(
        &self,
        caller: &CallerContext,
        params: &impl CertParams,
    ) -> Result<Vec<ListedCert>, EnosError> {
        let device = params.device()?;
        params.body()?;
        let certs = self.store.certs_of_device(&caller.org_id, &device)?;
        org_access(caller.app.as_ref(), &caller.org_id)?;
        let now_ms = self.clock.now_ms();
        Ok(certs
            .into_iter()
            .map(|record| ListedCert {
                status: record.status(now_ms),
                record,
            })
            .collect())
    }

    /// The org exists, the device exists in it, then the caller may touch the org.
    fn device_of(
        &self,
        caller: &CallerContext,
        device: &DeviceId,
    ) -> Result<DeviceContext, EnosError> {
        let ctx = self.store.device_context(&caller.org_id, device)?;
        org_access(caller.app.as_ref(), &caller.org_id)?;
        Ok(ctx)
    }

    /// Only a valid certificate is renewed.
    fn require_renewable(&self, old: &CertRecord) -> Result<(), EnosError> {
        match old.status(self.clock.now_ms()) {
            CertStatus::Revoked => Err(EnosError::new(ErrorKey::CertRevoked)),
            CertStatus::Expired => Err(EnosError::new(ErrorKey::CertExpired)),
            CertStatus::Valid => Ok(()),
        }
    }

    /// validDay rules 4–5: from now, never past the root; an expired root issues nothing.
    fn validity(&self, authority: Authority, days: i64) -> Result<(i64, i64), EnosError> {
        let root_not_after_ms = self.cas.get(authority).not_after_ms;
        validity_window(self.clock.now_ms(), days, root_not_after_ms).ok_or_else(|| {
            EnosError::call_ca(
                400,
                "the root CA certificate has expired",
                &format!(
                    "{} root expired at {}",
                    authority.as_str(),
                    crate::clock::rfc3339(root_not_after_ms)
                ),
            )
        })
    }

    /// The conflict checks (B5), holding a serial for the signature.
    fn reserve(
        &self,
        ctx: &DeviceContext,
        request: &CertRequest,
        subject: Subject,
    ) -> Result<Reservation, EnosError> {
        let check = IssueCheck {
            asset_id: &ctx.asset_id,
            authority: request.authority,
            common_name: &request.common_name,
            public_key: &request.public_key,
            unique_subject: subject == Subject::MustBeUnique,
        };
        self.store.reserve(check, self.clock.now_ms())
    }

    fn superseded(&self, old: &CertRecord) -> Superseded {
        match self.renew_policy {
            RenewPolicy::Keep => None,
            RenewPolicy::Revoke => Some((
                old.serial,
                Revocation {
                    at_ms: self.clock.now_ms(),
                    reason: RevocationReason::Superseded,
                    revoker: SERVICE_REVOKER.to_string(),
                },
            )),
        }
    }

    /// The signature itself, outside every lock but the device's; then the record is
    /// bound to the device (and the superseded certificate revoked).
    fn sign(
        &self,
        caller: &CallerContext,
        ctx: &DeviceContext,
        request: CertRequest,
        (not_before_ms, not_after_ms): (i64, i64),
        reservation: Reservation,
        superseded: Superseded,
    ) -> Result<IssuedCert, EnosError> {
        let authority = request.authority;
        let ca = self.cas.get(authority);
        let signed = ca.issue(IssueRequest {
            serial: reservation.serial,
            subject: request.subject,
            public_key: &request.public_key,
            not_before_ms,
            not_after_ms,
            crl_url: self.links.crl(authority, caller.host.as_deref()),
            profile: self.leaf_profile,
            device: LeafDevice {
                product_key: &ctx.product.product_key,
                device_key: &ctx.device_key,
            },
        });
        let signed = match signed {
            Ok(signed) => signed,
            Err(e) => {
                self.store.release(&reservation);
                tracing::error!(error = %e, "issuing failed");
                return Err(EnosError::new(ErrorKey::CertServiceInternal));
            }
        };
        let pem: Arc<str> = Arc::from(signed.pem);
        let record = CertRecord {
            serial: reservation.serial,
            asset_id: ctx.asset_id.clone(),
            authority,
            pem: pem.clone(),
            issuer: ca.subject.clone(),
            subject: request.subject_text,
            common_name: request.common_name,
            public_key: request.public_key,
            // The window starts at the moment of issue.
            sign_date_ms: not_before_ms,
            not_before_ms: signed.not_before_ms,
            not_after_ms: signed.not_after_ms,
            revocation: None,
        };
        let supersedes = superseded.is_some();
        self.store.commit(&reservation, record, superseded)?;
        if supersedes {
            self.revocations.announce();
        }
        Ok(IssuedCert {
            cert_chain_url: self.links.cert_chain(authority, caller.host.as_deref()),
            cert: pem,
            serial: reservation.serial,
            ca_cert: ca.cert_pem.clone(),
            authority,
        })
    }
}

/// Apply and renew need a product with bi-directional authentication.
fn require_bi_directional(product: &Product) -> Result<(), EnosError> {
    if product.bi_directional_auth {
        Ok(())
    } else {
        Err(EnosError::new(ErrorKey::NotBiDirectional))
    }
}

/// Only a valid certificate is revoked.
fn require_revocable(cert: &CertRecord, now_ms: i64) -> Result<(), EnosError> {
    let detail = format!("certSn {}", cert.serial);
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
        CertStatus::Valid => Ok(()),
    }
}
