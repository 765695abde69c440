//! Internals the micro-benchmarks (`benches/micro.rs`) time one by one. Not a stable API:
//! library users start a [`MockServer`](super::MockServer) and use its helpers.

pub use crate::api::router;
pub use crate::app::App;
pub use crate::ca::csr::{check_csr, request_from_record};
pub use crate::ca::{keys, Ca, IssueRequest, LeafDevice};
pub use crate::domain::model::CertRecord;
pub use crate::service::{CallerContext, CertArgs, Service};

/// The EnOS core a mock runs on.
pub fn service(mock: &super::MockServer) -> &std::sync::Arc<Service> {
    mock.service()
}

/// What a mock's transports share.
pub fn app(mock: &super::MockServer) -> &App {
    mock.app()
}
