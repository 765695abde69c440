//! `/connect-service/{v2.0|v2.1}/certificates`: Apply, Renew, Revoke and List.

use axum::response::Response;
use serde::Serialize;

use crate::domain::actions::CertAction;
use crate::domain::errors::EnosError;
use crate::domain::model::DeviceId;
use crate::domain::model::{Authority, RevocationReason};
use crate::domain::Serial;
use crate::service::{CertParams, IssuedCert, ListedCert};

use super::enos::{self, Call, EnosRequest};
use super::envelope::{self, PemJson};
use super::params::{self, Body, Query};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedView<'a> {
    #[serde(rename = "certChainURL")]
    cert_chain_url: &'a str,
    /// New in every answer: nothing to gain from the PEM cache.
    cert: &'a str,
    #[serde(rename = "certSN")]
    serial: Serial,
    ca_cert: PemJson,
    issue_authority: &'static str,
}

impl<'a> From<&'a IssuedCert> for IssuedView<'a> {
    fn from(c: &'a IssuedCert) -> Self {
        IssuedView {
            cert_chain_url: &c.cert_chain_url,
            cert: &c.cert,
            serial: c.serial,
            ca_cert: envelope::pem_json(&c.ca_cert),
            issue_authority: c.authority.as_str(),
        }
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedView<'a> {
    #[serde(rename = "certSN")]
    serial: Serial,
    /// Escaped on every answer, not through the PEM cache: List reads any of a million
    /// devices, and a cache that only the last thousand hit makes a small store look
    /// faster than a big one (the bench's scale ratio) for no gain to real clients.
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
            serial: r.serial,
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

/// The certificate calls' parameters as HTTP carries them: the query and a JSON body.
struct HttpParams<'a> {
    query: &'a Query,
    body: Result<Body, EnosError>,
}

impl HttpParams<'_> {
    fn parsed(&self) -> Result<&Body, EnosError> {
        self.body.as_ref().map_err(Clone::clone)
    }
}

impl CertParams for HttpParams<'_> {
    fn device(&self) -> Result<DeviceId, EnosError> {
        enos::device_id(self.query)
    }
    fn body(&self) -> Result<(), EnosError> {
        self.parsed().map(drop)
    }
    fn csr(&self) -> Result<Option<String>, EnosError> {
        params::csr(self.parsed()?)
    }
    fn valid_day(&self) -> Result<Option<i64>, EnosError> {
        params::valid_day(self.query, self.parsed()?)
    }
    fn authority(&self) -> Result<Option<Authority>, EnosError> {
        params::authority(self.parsed()?)
    }
    /// Renew reads certSn from the body only; revoke also from the query (B3).
    fn serial(&self, action: CertAction) -> Result<Serial, EnosError> {
        let query = match action {
            CertAction::Revoke => Some(self.query),
            CertAction::Apply | CertAction::Renew | CertAction::List => None,
        };
        params::serial(query, self.parsed()?)
    }
    fn reason(&self) -> Result<RevocationReason, EnosError> {
        params::reason(self.query, self.parsed()?)
    }
}

async fn dispatch(call: Call<CertAction>) -> Result<Response, EnosError> {
    let params = HttpParams {
        query: &call.query,
        body: Body::parse(&call.body),
    };
    let (service, caller, request_id) = (&call.app.service, &call.caller, &call.request_id);
    match call.action {
        CertAction::Apply => {
            let issued = service.apply(caller, &params).await?;
            Ok(envelope::ok(request_id, Some(IssuedView::from(&issued))))
        }
        CertAction::Renew => {
            let issued = service.renew(caller, &params).await?;
            Ok(envelope::ok(request_id, Some(IssuedView::from(&issued))))
        }
        CertAction::Revoke => {
            service.revoke(caller, &params).await?;
            Ok(envelope::ok::<()>(request_id, None))
        }
        CertAction::List => {
            let certs = service.list(caller, &params)?;
            let views: Vec<ListedView<'_>> = certs.iter().map(ListedView::from).collect();
            Ok(envelope::ok(request_id, Some(views)))
        }
    }
}

/// Apply, renew, revoke or list the certificates of a device (reads by GET or POST).
#[utoipa::path(
    method(get, post),
    path = "/connect-service/v2.0/certificates",
    tag = "enos",
    params(super::openapi::CertificateQuery),
    request_body(content = Option<super::openapi::CertificateBody>, content_type = "application/json"),
    responses(super::openapi::EnosAnswers),
    security(("apim_accesstoken" = []))
)]
pub(crate) async fn handle(request: EnosRequest) -> Response {
    request.answer(dispatch).await
}
