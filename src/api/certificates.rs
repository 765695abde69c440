//! `/connect-service/{v2.0|v2.1}/certificates`: Apply, Renew, Revoke and List.

use axum::response::Response;
use serde::Serialize;

use crate::domain::errors::{EnosError, ErrorKey, APPLY, LIST, RENEW, REVOKE};
use crate::service::{ApplyParams, IssuedCert, ListedCert, RenewParams, RevokeParams, Target};

use super::enos::{self, Actions, Call, EnosRequest};
use super::envelope;
use super::params::{self, Body};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedView<'a> {
    #[serde(rename = "certChainURL")]
    cert_chain_url: &'a str,
    cert: &'a str,
    #[serde(rename = "certSN")]
    cert_sn: String,
    ca_cert: &'a str,
    issue_authority: &'static str,
}

impl<'a> From<&'a IssuedCert> for IssuedView<'a> {
    fn from(c: &'a IssuedCert) -> Self {
        IssuedView {
            cert_chain_url: &c.cert_chain_url,
            cert: &c.cert,
            cert_sn: c.cert_sn.to_string(),
            ca_cert: &c.ca_cert,
            issue_authority: c.authority.as_str(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedView<'a> {
    #[serde(rename = "certSN")]
    cert_sn: String,
    cert: &'a str,
    cert_status: u8,
    issuer: &'a str,
    subject: &'a str,
    sign_date: i64,
    effective_date: i64,
    /// The 2.1 spelling, same value.
    effetive_date: i64,
    expire_date: i64,
    revoker: &'a str,
    revoker_reason: String,
    is_enos_cert: bool,
    issue_authority: &'static str,
}

impl<'a> From<&'a ListedCert> for ListedView<'a> {
    fn from(c: &'a ListedCert) -> Self {
        let r = &c.record;
        let revocation = r.revocation.as_ref();
        ListedView {
            cert_sn: r.serial.to_string(),
            cert: &r.pem,
            cert_status: c.status as u8,
            issuer: &r.issuer,
            subject: &r.subject,
            sign_date: r.sign_date_ms,
            effective_date: r.not_before_ms,
            effetive_date: r.not_before_ms,
            expire_date: r.not_after_ms,
            revoker: revocation.map(|v| v.revoker.as_str()).unwrap_or(""),
            revoker_reason: revocation.map(|v| v.reason.display()).unwrap_or_default(),
            is_enos_cert: true,
            issue_authority: r.authority.as_str(),
        }
    }
}

const ACTIONS: Actions = &[
    (APPLY, APPLY),
    (RENEW, RENEW),
    (REVOKE, REVOKE),
    (LIST, LIST),
];

/// Argument syntax in contract order (after orgId): device identifier, then the body.
fn target(call: &Call) -> Result<Target, EnosError> {
    Ok(Target {
        org_id: call.org_id.clone(),
        device: enos::device_ref(&call.query)?,
        app_key: call.caller.as_ref().map(|c| c.app_key.clone()),
        caller_org: call.caller_org().map(str::to_string),
    })
}

async fn dispatch(call: Call) -> Result<Response, EnosError> {
    let target = target(&call)?;
    let body = Body::parse(&call.body)?;
    let (service, query, request_id) = (&call.service, &call.query, &call.request_id);
    match call.action {
        APPLY => {
            let csr = params::csr(&body)?.ok_or_else(|| EnosError::new(ErrorKey::CsrMissing))?;
            let params = ApplyParams {
                csr,
                valid_day: params::valid_day(query, &body)?,
                authority: params::authority(&body)?,
            };
            let issued = service.apply(&target, params).await?;
            Ok(envelope::ok(request_id, Some(IssuedView::from(&issued))))
        }
        RENEW => {
            let params = RenewParams {
                cert_sn: params::cert_sn(None, &body)?,
                csr: params::csr(&body)?,
                valid_day: params::valid_day(query, &body)?,
                authority: params::authority(&body)?,
            };
            let issued = service.renew(&target, params).await?;
            Ok(envelope::ok(request_id, Some(IssuedView::from(&issued))))
        }
        REVOKE => {
            let params = RevokeParams {
                cert_sn: params::cert_sn(Some(query), &body)?,
                reason: params::reason(query, &body)?,
            };
            service.revoke(&target, params).await?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        _ => {
            let certs = service.list(&target)?;
            let views: Vec<ListedView<'_>> = certs.iter().map(ListedView::from).collect();
            Ok(envelope::ok(request_id, Some(views)))
        }
    }
}

pub async fn handle(request: EnosRequest) -> Response {
    request.answer(ACTIONS, &[LIST], dispatch).await
}
