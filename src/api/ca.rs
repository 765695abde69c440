//! Public CA endpoints (A7): root certificates and CRLs.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use utoipa::ToSchema;

use crate::domain::model::Authority;
use crate::service::Service;

use super::envelope;
use super::params::Query;

/// A CA path naming no root: 404 in `{"message"}`.
pub(crate) struct UnknownAuthority(String);

impl IntoResponse for UnknownAuthority {
    fn into_response(self) -> Response {
        envelope::message(
            StatusCode::NOT_FOUND,
            &format!("unknown certificate authority {:?}: use RSA or ECC", self.0),
        )
    }
}

fn authority(kind: &str) -> Result<Authority, UnknownAuthority> {
    Authority::parse(kind).ok_or_else(|| UnknownAuthority(kind.to_string()))
}

fn with_type(body: impl IntoResponse, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn cacert(service: &Service, authority: Authority) -> Response {
    with_type(
        service.root(authority).cert_pem.to_string(),
        "application/x-pem-file",
    )
}

/// The `format` of the CRL endpoints (any case; absent: der).
#[derive(Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub(crate) enum CrlFormat {
    Der,
    Pem,
}

impl CrlFormat {
    fn parse(text: &str) -> Option<CrlFormat> {
        [CrlFormat::Der, CrlFormat::Pem]
            .into_iter()
            .find(|f| text.eq_ignore_ascii_case(f.as_str()))
    }

    fn as_str(self) -> &'static str {
        match self {
            CrlFormat::Der => "der",
            CrlFormat::Pem => "pem",
        }
    }
}

/// A CRL in DER, as served.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub(crate) struct Der(Arc<[u8]>);

impl IntoResponse for Der {
    fn into_response(self) -> Response {
        with_type(self.0.to_vec(), "application/pkix-crl")
    }
}

fn crl(service: &Service, authority: Authority, raw_query: Option<String>) -> Response {
    let query = Query::parse(raw_query.as_deref());
    let format = query.get("format").unwrap_or("der");
    let Some(format) = CrlFormat::parse(format) else {
        return envelope::message(
            StatusCode::BAD_REQUEST,
            &format!("unknown CRL format {format:?}: use der or pem"),
        );
    };
    match service.crl(authority) {
        Ok((_, text)) if format == CrlFormat::Pem => {
            with_type(text.to_string(), "application/x-pem-file")
        }
        Ok((der, _)) => Der(der).into_response(),
        Err(e) => envelope::message(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// The RSA root certificate.
#[utoipa::path(get, path = "/enos/CA/cacert", tag = "ca", responses((status = 200, description = "The root certificate, PEM", body = String, content_type = "application/x-pem-file")))]
pub(crate) async fn rsa_cacert(State(service): State<Arc<Service>>) -> Response {
    cacert(&service, Authority::Rsa)
}

/// A root certificate.
#[utoipa::path(get, path = "/enos/CA/cacert/{kind}", tag = "ca", params(("kind" = String, Path, description = "RSA or ECC")), responses((status = 200, description = "The root certificate, PEM", body = String, content_type = "application/x-pem-file"), (status = 404, description = "Unknown authority", body = super::envelope::Message)))]
pub(crate) async fn cacert_of(
    State(service): State<Arc<Service>>,
    Path(kind): Path<String>,
) -> Result<Response, UnknownAuthority> {
    Ok(cacert(&service, authority(&kind)?))
}

/// The RSA root's CRL.
#[utoipa::path(get, path = "/enos/CA/crl", tag = "ca", params(("format" = inline(Option<CrlFormat>), Query, description = "der (default) or pem, in any case")), responses((status = 200, description = "The CRL: DER, or PEM with format=pem", content((Der = "application/pkix-crl"), (String = "application/x-pem-file"))), (status = 400, description = "Unknown format", body = super::envelope::Message)))]
pub(crate) async fn rsa_crl(
    State(service): State<Arc<Service>>,
    RawQuery(q): RawQuery,
) -> Response {
    crl(&service, Authority::Rsa, q)
}

/// A root's CRL.
#[utoipa::path(get, path = "/enos/CA/crl/{kind}", tag = "ca", params(("kind" = String, Path, description = "RSA or ECC"), ("format" = inline(Option<CrlFormat>), Query, description = "der (default) or pem, in any case")), responses((status = 200, description = "The CRL: DER, or PEM with format=pem", content((Der = "application/pkix-crl"), (String = "application/x-pem-file"))), (status = 400, description = "Unknown format", body = super::envelope::Message), (status = 404, description = "Unknown authority", body = super::envelope::Message)))]
pub(crate) async fn crl_of(
    State(service): State<Arc<Service>>,
    Path(kind): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, UnknownAuthority> {
    Ok(crl(&service, authority(&kind)?, q))
}
