//! The guard's HTTP side: reads the method, path and the headers the guard looks at,
//! asks [`Guard::check`], and answers a refusal in the control plane's `{"message"}`
//! envelope (403, or 401 with `WWW-Authenticate: Bearer`). It wraps the whole router as
//! a plain tower service, so a request that passes costs no allocation.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use tower::util::future::EitherResponseFuture;
use tower::util::Either;
use tower::{Layer, Service};

use crate::app::guard::{Access, Guard, Refusal, Seen};
use crate::auth::refusal_log::RefusalLog;

use super::envelope;

/// Set on `GET /__admin/health` when it is answered without the admin token.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PublicOnly;

#[derive(Clone)]
pub(crate) struct GuardLayer {
    guard: Arc<Guard>,
    log: Arc<RefusalLog>,
}

impl GuardLayer {
    pub(crate) fn new(guard: Arc<Guard>) -> GuardLayer {
        GuardLayer {
            guard,
            log: Arc::default(),
        }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Guarded<S> {
    inner: S,
    layer: GuardLayer,
}

/// The refusal, as a service that answers it once.
struct Refused(Option<Response>);

impl<R> Service<R> for Refused {
    type Response = Response;
    type Error = Infallible;
    type Future = Ready<Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: R) -> Self::Future {
        std::future::ready(Ok(self.0.take().unwrap_or_default()))
    }
}

/// A header as text; one that is not text never matches anything.
fn text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).map(|v| v.to_str().unwrap_or("\u{fffd}"))
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EitherResponseFuture<Ready<Result<Response, Infallible>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let headers = request.headers();
        let seen = Seen {
            method: request.method().as_str(),
            path: request.uri().path(),
            host: text(headers, header::HOST)
                .or_else(|| request.uri().authority().map(|a| a.as_str())),
            origin: text(headers, header::ORIGIN),
            fetch_site: text(headers, header::HeaderName::from_static("sec-fetch-site")),
            authorization: text(headers, header::AUTHORIZATION),
        };
        match self.layer.guard.check(&seen) {
            Ok(Access::Full) => Either::<Refused, &mut S>::Right(&mut self.inner).call(request),
            Ok(Access::Public) => {
                request.extensions_mut().insert(PublicOnly);
                Either::<Refused, &mut S>::Right(&mut self.inner).call(request)
            }
            Err(refusal) => {
                if let Some(suppressed) = self.layer.log.admit() {
                    tracing::info!(
                        method = seen.method,
                        path = %crate::journal::Text::new(crate::journal::Field::Path, seen.path),
                        reason = %refusal,
                        suppressed,
                        "guard refused a call"
                    );
                }
                Either::<Refused, &mut S>::Left(Refused(Some(answer(&refusal)))).call(request)
            }
        }
    }
}

/// 401 with `WWW-Authenticate` for a missing or wrong token; 403 for the rest.
fn answer(refusal: &Refusal) -> Response {
    let message = refusal.to_string();
    if refusal.needs_token() {
        let mut response = envelope::message(StatusCode::UNAUTHORIZED, &message);
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"/__admin\""),
        );
        response
    } else {
        envelope::message(StatusCode::FORBIDDEN, &message)
    }
}
