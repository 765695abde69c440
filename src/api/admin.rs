//! The `/__admin` control plane: health, clock, reset, reload, error catalogue,
//! orgs, faults, the request journal and bulk loading.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::app::faults::{Fault, FaultSpec, Faults, NewFault};
use crate::app::health::{ClockView, Health};
use crate::app::App;
use crate::clock::{parse_rfc3339, Clock};
use crate::domain::device_methods::DeviceMethod;
use crate::domain::errors::CATALOGUE;
use crate::domain::model::{Application, Authority, Org};
use crate::domain::reply_codes::REPLY_CATALOGUE;
use crate::domain::rules::DAY_MS;
use crate::domain::store::Counts;
use crate::journal::{Filter, Journal, JournalEntry};
use crate::service::{BulkLoaded, BulkSpec, Service};

use super::envelope;
use super::params::Query;

/// Why a control call failed, answered as `{"message"}`.
#[derive(Debug)]
pub(crate) enum AdminError {
    /// 400: the request cannot be done as asked.
    BadRequest(String),
    /// 500: the mock failed doing it.
    Internal(String),
    /// The body could not be read at all (axum's own answer).
    Unreadable(BytesRejection),
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        match self {
            AdminError::BadRequest(message) => envelope::message(StatusCode::BAD_REQUEST, &message),
            AdminError::Internal(message) => {
                envelope::message(StatusCode::INTERNAL_SERVER_ERROR, &message)
            }
            AdminError::Unreadable(rejection) => rejection.into_response(),
        }
    }
}

fn bad_request(message: impl Into<String>) -> AdminError {
    AdminError::BadRequest(message.into())
}

/// A control-plane JSON body, whatever its content type; unknown keys are refused
/// (the body types deny them) so typos do not pass silently.
pub(crate) struct AdminJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for AdminJson<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AdminError> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(AdminError::Unreadable)?;
        serde_json::from_slice(&bytes)
            .map(AdminJson)
            .map_err(|e| bad_request(format!("invalid body: {e}")))
    }
}

/// A 200 answer with a JSON body.
pub(crate) struct Answer<T>(T);

impl<T: Serialize> IntoResponse for Answer<T> {
    fn into_response(self) -> Response {
        envelope::json(StatusCode::OK, &self.0)
    }
}

type Answered<T> = Result<Answer<T>, AdminError>;

#[utoipa::path(get, path = "/__admin/health", tag = "admin", summary = "Readiness, version, fixtures, roots, clock, counts",
    responses((status = 200, description = "OK", body = crate::app::health::Health)))]
pub(crate) async fn health(
    State(app): State<App>,
    public_only: Option<Extension<super::guard::PublicOnly>>,
) -> Answer<Health> {
    Answer(Health::of(&app, public_only.is_some()))
}

#[utoipa::path(get, path = "/__admin/clock", tag = "admin", summary = "The mock clock",
    responses((status = 200, description = "OK", body = ClockView)))]
pub(crate) async fn get_clock(State(clock): State<Arc<Clock>>) -> Answer<ClockView> {
    Answer(ClockView::of(&clock))
}

/// Exactly one field; `reset` must be true.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(max_properties = 1)] // and minProperties 1: see ClockChangeBody
pub(crate) struct ClockChange {
    #[schema(nullable = false)]
    advance_seconds: Option<i64>,
    #[schema(nullable = false)]
    advance_days: Option<i64>,
    /// An RFC 3339 date-time.
    #[schema(nullable = false, format = DateTime)]
    set: Option<String>,
    /// Back to the real time; only `true`.
    #[schema(schema_with = only_true)]
    reset: Option<bool>,
}

/// `reset`'s schema: the boolean `true` (`false` is refused).
fn only_true() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::Boolean)
        .enum_values(Some([true]))
        .build()
}

/// [`ClockChange`]'s schema with `minProperties: 1` added: utoipa-gen 5.5 writes a
/// `min_properties` attribute as `maxProperties` (features.rs), so it cannot be derived.
pub(crate) struct ClockChangeBody;

impl utoipa::PartialSchema for ClockChangeBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{schema::Schema, RefOr};
        let mut schema = <ClockChange as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.min_properties = Some(1);
        }
        schema
    }
}

impl ToSchema for ClockChangeBody {
    fn name() -> std::borrow::Cow<'static, str> {
        ClockChange::name()
    }
}

impl ClockChange {
    fn apply(self, clock: &Clock) -> Result<(), AdminError> {
        let given = [
            self.advance_seconds.is_some(),
            self.advance_days.is_some(),
            self.set.is_some(),
            self.reset.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(bad_request(
                "give exactly one of advanceSeconds, advanceDays, set, reset",
            ));
        }
        if let Some(s) = self.advance_seconds {
            clock.advance_ms(s.saturating_mul(1000));
        } else if let Some(d) = self.advance_days {
            clock.advance_ms(d.saturating_mul(DAY_MS));
        } else if let Some(set) = self.set {
            let ms = parse_rfc3339(&set)
                .ok_or_else(|| bad_request(format!("set: {set:?} is not an RFC 3339 date-time")))?;
            clock.set_ms(ms);
        } else if self.reset == Some(true) {
            clock.reset();
        } else {
            return Err(bad_request("reset must be true"));
        }
        Ok(())
    }
}

#[utoipa::path(post, path = "/__admin/clock", tag = "admin", summary = "Move the clock: exactly one of advanceSeconds, advanceDays, set, reset",
    request_body(content = ClockChangeBody, content_type = "application/json"),
    responses((status = 200, description = "OK", body = ClockView), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message), (status = 413, description = "Request size limit exceeded", body = super::envelope::Message)))]
pub(crate) async fn set_clock(
    State(clock): State<Arc<Clock>>,
    AdminJson(change): AdminJson<ClockChange>,
) -> Answered<ClockView> {
    change.apply(&clock)?;
    Ok(Answer(ClockView::of(&clock)))
}

/// The answer to a reset.
#[derive(Serialize, ToSchema)]
pub(crate) struct Reset {
    /// `reset`.
    status: &'static str,
    #[schema(value_type = Object)]
    counts: Counts,
    clock: ClockView,
}

#[utoipa::path(post, path = "/__admin/reset", tag = "admin", summary = "Back to the fixtures; clock, faults and journal reset",
    responses((status = 200, description = "OK", body = Reset)))]
pub(crate) async fn reset(State(app): State<App>) -> Answer<Reset> {
    app.reset();
    let service = &app.service;
    Answer(Reset {
        status: "reset",
        counts: service.counts(),
        clock: ClockView::of(&app.clock),
    })
}

/// One row of the error catalogue.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorRow {
    key: &'static str,
    code: i64,
    /// The message template; `{name}` placeholders are filled per call.
    msg: &'static str,
    /// The EnOS actions it answers; for the device replies (keys `mqtt_…`), the request
    /// methods.
    #[schema(value_type = Vec<String>)]
    actions: Vec<&'static str>,
}

#[utoipa::path(get, path = "/__admin/errors", tag = "admin", summary = "The error catalogue: the HTTP rows, then the replies to device requests over MQTT",
    responses((status = 200, description = "OK", body = Vec<ErrorRow>)))]
pub(crate) async fn errors() -> Answer<Vec<ErrorRow>> {
    let http = CATALOGUE.iter().map(|d| ErrorRow {
        key: d.key,
        code: d.code,
        msg: d.template,
        actions: d.actions.to_vec(),
    });
    let every_method = || DeviceMethod::ALL.iter().map(|m| m.name()).collect();
    let mqtt = REPLY_CATALOGUE.iter().map(|d| ErrorRow {
        key: d.key,
        code: d.code,
        msg: d.template,
        actions: if d.methods.is_empty() {
            every_method()
        } else {
            d.methods.iter().map(|m| m.name()).collect()
        },
    });
    Answer(http.chain(mqtt).collect())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct OrgBody {
    #[schema(min_length = 1)]
    org_id: String,
    #[serde(default)]
    apps: Vec<AppBody>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AppBody {
    #[schema(min_length = 1)]
    app_key: String,
    #[schema(min_length = 1)]
    app_secret: String,
}

impl From<OrgBody> for Org {
    fn from(body: OrgBody) -> Org {
        let apps = body.apps.into_iter().map(|a| Application {
            app_key: a.app_key,
            app_secret: a.app_secret,
        });
        Org {
            org_id: body.org_id,
            apps: apps.collect(),
        }
    }
}

#[utoipa::path(post, path = "/__admin/orgs", tag = "admin", summary = "Declare an org with apps (replaces one of the same id)",
    request_body(content = OrgBody, content_type = "application/json"),
    responses((status = 200, description = "OK", body = OrgBody), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message), (status = 413, description = "Request size limit exceeded", body = super::envelope::Message)))]
pub(crate) async fn create_org(
    State(service): State<Arc<Service>>,
    AdminJson(body): AdminJson<OrgBody>,
) -> Answered<Org> {
    let org = Org::from(body);
    service
        .declare_org(org.clone())
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Answer(org))
}

#[utoipa::path(get, path = "/__admin/orgs", tag = "admin", summary = "Declared orgs and their apps",
    responses((status = 200, description = "OK", body = Vec<OrgBody>)))]
pub(crate) async fn list_orgs(State(service): State<Arc<Service>>) -> Answer<Vec<Org>> {
    Answer(service.orgs())
}

/// The answer to a reload.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Reloaded {
    /// `reloaded`.
    status: &'static str,
    fixtures_file: String,
    #[schema(value_type = Object)]
    counts: Counts,
}

#[utoipa::path(post, path = "/__admin/reload", tag = "admin", summary = "Re-read the fixtures file and reset to it",
    responses((status = 200, description = "OK", body = Reloaded), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message)))]
pub(crate) async fn reload(State(app): State<App>) -> Answered<Reloaded> {
    app.reload().map_err(|e| bad_request(e.to_string()))?;
    let fixtures_file = app.fixtures.read().name.clone();
    Ok(Answer(Reloaded {
        status: "reloaded",
        fixtures_file,
        counts: app.service.counts(),
    }))
}

#[utoipa::path(post, path = "/__admin/faults", tag = "admin", summary = "Register a fault",
    request_body(content = NewFault, content_type = "application/json"),
    responses((status = 200, description = "The registered fault", body = Object), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message), (status = 413, description = "Request size limit exceeded", body = super::envelope::Message)))]
pub(crate) async fn add_fault(
    State(faults): State<Arc<Faults>>,
    AdminJson(new): AdminJson<NewFault>,
) -> Answered<Fault> {
    let spec = FaultSpec::try_from(new).map_err(|e| bad_request(e.to_string()))?;
    Ok(Answer(faults.add(spec)))
}

#[utoipa::path(get, path = "/__admin/faults", tag = "admin", summary = "Registered faults",
    responses((status = 200, description = "OK", body = Vec<Object>)))]
pub(crate) async fn list_faults(State(faults): State<Arc<Faults>>) -> Answer<Vec<Fault>> {
    Answer(faults.list())
}

#[utoipa::path(delete, path = "/__admin/faults", tag = "admin", summary = "Clear all faults",
    responses((status = 200, description = "An empty list", body = Vec<Object>)))]
pub(crate) async fn clear_faults(State(faults): State<Arc<Faults>>) -> Answer<Vec<Value>> {
    faults.clear();
    Answer(Vec::new())
}

/// The query of `GET /__admin/requests` (read by [`journal_filter`]).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct JournalQuery {
    /// Only calls of this action (`apply`, `product.create`, ...).
    action: Option<String>,
    /// Only answers with this EnOS code.
    code: Option<i64>,
    /// At most this many entries, the newest.
    limit: Option<u64>,
}

/// `?action=&code=&limit=` of `GET /__admin/requests`.
fn journal_filter(query: &Query) -> Result<Filter, AdminError> {
    let code = query
        .non_empty("code")
        .map(str::parse::<i64>)
        .transpose()
        .map_err(|_| bad_request("code must be an integer"))?;
    let limit = query
        .non_empty("limit")
        .map(str::parse::<usize>)
        .transpose()
        .map_err(|_| bad_request("limit must be a non-negative integer"))?;
    Ok(Filter {
        action: query.non_empty("action").map(str::to_string),
        code,
        limit,
    })
}

#[utoipa::path(get, path = "/__admin/requests", tag = "admin", summary = "The request journal, oldest first",
    params(JournalQuery),
    responses((status = 200, description = "OK", body = Vec<Object>), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message)))]
pub(crate) async fn requests(
    State(journal): State<Arc<Journal>>,
    RawQuery(raw): RawQuery,
) -> Answered<Vec<JournalEntry>> {
    let filter = journal_filter(&Query::parse(raw.as_deref()))?;
    Ok(Answer(journal.query(&filter)))
}

#[utoipa::path(delete, path = "/__admin/requests", tag = "admin", summary = "Clear the journal",
    responses((status = 200, description = "An empty list", body = Vec<Object>)))]
pub(crate) async fn clear_requests(State(journal): State<Arc<Journal>>) -> Answer<Vec<Value>> {
    journal.clear();
    Answer(Vec::new())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BulkBody {
    org_id: String,
    product_key: String,
    /// Devices to make, at most 2,000,000.
    // The maximum is service::BULK_MAX (a literal here: utoipa takes no constant);
    // tests::the_documented_bulk_count_is_the_service_limit keeps them equal.
    #[schema(minimum = 1, maximum = 2000000)]
    count: u64,
    #[serde(default = "default_prefix")]
    prefix: String,
    /// RSA or ECC (any case); absent or null: no certificates.
    #[schema(schema_with = super::openapi::authority_or_null)]
    issue_authority: Option<String>,
}

fn default_prefix() -> String {
    "bulk".into()
}

impl TryFrom<BulkBody> for BulkSpec {
    type Error = AdminError;

    fn try_from(body: BulkBody) -> Result<BulkSpec, AdminError> {
        let authority = match body.issue_authority.as_deref() {
            None => None,
            Some(text) => Some(Authority::parse(text).ok_or_else(|| {
                bad_request("issueAuthority must be RSA or ECC (or absent for no certificates)")
            })?),
        };
        Ok(BulkSpec {
            org_id: body.org_id,
            product_key: body.product_key,
            count: body.count,
            prefix: body.prefix,
            authority,
        })
    }
}

#[utoipa::path(post, path = "/__admin/bulk/devices", tag = "admin", summary = "Bulk-load devices of one product, each with a certificate for a fresh key (scale tests)",
    request_body(content = BulkBody, content_type = "application/json"),
    responses((status = 200, description = "{devices, certificates, elapsedMs}", body = Object), (status = 400, description = "The request cannot be done as asked", body = super::envelope::Message), (status = 413, description = "Request size limit exceeded", body = super::envelope::Message)))]
pub(crate) async fn bulk_devices(
    State(service): State<Arc<Service>>,
    AdminJson(body): AdminJson<BulkBody>,
) -> Answered<BulkLoaded> {
    let spec = BulkSpec::try_from(body)?;
    let loaded = tokio::task::spawn_blocking(move || service.bulk_devices(&spec))
        .await
        .map_err(|e| AdminError::Internal(format!("bulk load failed: {e}")))?;
    Ok(Answer(loaded.map_err(|e| bad_request(e.to_string()))?))
}

#[cfg(test)]
mod tests {
    use utoipa::openapi::{schema::Schema, RefOr};
    use utoipa::PartialSchema;

    #[test]
    fn the_documented_bulk_count_is_the_service_limit() {
        let RefOr::T(Schema::Object(body)) = super::BulkBody::schema() else {
            panic!("BulkBody is an object");
        };
        let RefOr::T(Schema::Object(count)) = &body.properties["count"] else {
            panic!("count is inline");
        };
        let maximum = serde_json::to_value(&count.maximum).unwrap();
        assert_eq!(maximum, serde_json::json!(crate::service::bulk::BULK_MAX));
    }
}
