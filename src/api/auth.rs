//! The gateway in front of the EnOS business routes: reads the credentials, the raw query
//! and the raw body, asks [`Gateway::check`](crate::auth::Gateway::check), and hands the
//! body on unchanged with the caller in the request's extensions.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::LengthLimitError;

use crate::app::App;
use crate::auth::{AuthMode, Credentials};
use crate::journal::{Field, Text};

use super::envelope;

/// The gateway's one answer to a refused call (B10), whatever the reason.
pub(crate) const UNAUTHORIZED: &str = "Invalid authentication credentials";

fn header<'a>(request: &'a axum::http::request::Parts, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

/// An unreadable body: over the size limit (413, worded by the outer layer) or broken.
fn body_error(e: axum::Error) -> Response {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(err) = source {
        if err.is::<LengthLimitError>() {
            return envelope::message(StatusCode::PAYLOAD_TOO_LARGE, "");
        }
        source = err.source();
    }
    envelope::message(
        StatusCode::BAD_REQUEST,
        &format!("cannot read the request body: {e}"),
    )
}

pub(crate) async fn gateway(State(app): State<App>, request: Request, next: Next) -> Response {
    if app.gateway.mode() == AuthMode::Off {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    // The signature covers the body byte for byte, so it is read whole before any parsing.
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return body_error(e),
    };
    let credentials = Credentials {
        access_token: header(&parts, "apim-accesstoken"),
        timestamp: header(&parts, "apim-timestamp"),
        signature: header(&parts, "apim-signature"),
        raw_query: parts.uri.query().unwrap_or(""),
        body: &bytes,
    };
    let service = &app.service;
    let verdict = app
        .gateway
        .check(&**service, app.clock.now_ms(), &credentials);
    match verdict {
        Ok(caller) => {
            let mut request = Request::from_parts(parts, Body::from(bytes));
            if let Some(caller) = caller {
                request.extensions_mut().insert(caller);
            }
            next.run(request).await
        }
        Err(denied) => {
            if let Some(suppressed) = app.gateway.refusal_log().admit() {
                let path = Text::new(Field::Path, parts.uri.path());
                tracing::info!(%path, reason = %denied, suppressed, "gateway refused a call");
            }
            envelope::message(StatusCode::UNAUTHORIZED, UNAUTHORIZED)
        }
    }
}
