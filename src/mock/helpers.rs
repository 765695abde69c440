//! Typed helpers for what tests do most, in-process: they act on the same state the
//! HTTP handlers use, so what a helper sets up the client under test sees over HTTP.
//! They bypass the gateway, injected faults and the journal, which are about calls
//! made over a transport.

use rcgen::{KeyPair, RsaKeySize};
use time::{Duration, OffsetDateTime};

use crate::app::faults::{Fault, FaultError, FaultSpec};
use crate::clock::datetime_to_ms;
use crate::domain::errors::EnosError;
use crate::domain::model::{Authority, Device, DeviceId, Product};
use crate::domain::Serial;
use crate::journal::{Filter, JournalEntry};
use crate::persist::SaveError;
use crate::service::{CallerContext, CertArgs, NewDevice, NewProduct};

use super::{CsrBuilder, MockServer};

/// A certificate issued for a key made in-process: what a device would hold.
#[derive(Debug, Clone)]
pub struct KeyAndCert {
    /// The device's private key, PKCS#8 PEM.
    pub key_pem: String,
    /// The issued certificate, PEM.
    pub cert_pem: String,
    /// Its serial, the `certSn` of renew, revoke and list.
    pub serial: Serial,
    /// The root that signed it, PEM.
    pub ca_cert_pem: String,
    pub authority: Authority,
}

/// The org as itself, with no app: what the lenient gateway lets through.
fn org(org_id: &str) -> CallerContext {
    CallerContext {
        org_id: org_id.to_string(),
        app: None,
        host: None,
    }
}

impl MockServer {
    /// The file the fixtures came from, as health's `fixturesFile` names it.
    pub fn fixtures_name(&self) -> String {
        self.app.fixtures.read().name.clone()
    }

    /// The mock clock's time.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// let drift = mock.now() - time::OffsetDateTime::now_utc();
    /// assert!(drift.abs() < time::Duration::seconds(5));
    /// # }
    /// ```
    pub fn now(&self) -> OffsetDateTime {
        self.app.clock.now()
    }

    /// Moves the mock clock by `by` (negative moves it back); it keeps running from there.
    /// Certificates expire, tokens lapse and CRLs move on as if the time had passed.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::time::Duration;
    ///
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// let before = mock.now();
    /// mock.advance_clock(Duration::days(731));
    /// assert!(mock.now() - before >= Duration::days(731));
    /// # }
    /// ```
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.whole_milliseconds()).unwrap_or(if by.is_negative() {
            i64::MIN
        } else {
            i64::MAX
        });
        self.app.clock.advance_ms(ms);
    }

    /// Sets the mock clock to `to`; it keeps running from there.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// mock.set_clock(time::macros::datetime!(2030-01-01 00:00 UTC));
    /// assert_eq!(mock.now().year(), 2030);
    /// # }
    /// ```
    pub fn set_clock(&self, to: OffsetDateTime) {
        self.app.clock.set_ms(datetime_to_ms(to));
    }

    /// Back to real time.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// mock.advance_clock(time::Duration::hours(1));
    /// mock.reset_clock();
    /// assert!((mock.now() - time::OffsetDateTime::now_utc()).abs() < time::Duration::seconds(5));
    /// # }
    /// ```
    pub fn reset_clock(&self) {
        self.app.clock.reset();
    }

    /// Everything back to the loaded fixtures, like `POST /__admin/reset`: certificates,
    /// created products and devices, clock, faults, journal and issued tokens.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{MockServer, NewDevice, NewProduct};
    ///
    /// let mock = MockServer::builder().start().await.unwrap();
    /// let org = "o15444172373271";
    /// let product = mock.create_product(org, NewProduct::bi_directional("Meter")).unwrap();
    /// mock.advance_clock(time::Duration::days(1));
    /// mock.reset();
    /// assert!(mock.create_device(org, NewDevice::named(&product.product_key, "m")).is_err());
    /// assert!(mock.now() <= time::OffsetDateTime::now_utc() + time::Duration::seconds(5));
    /// # }
    /// ```
    pub fn reset(&self) {
        self.app.reset();
    }

    /// Registers a fault: the next matching EnOS calls over HTTP (or device connections,
    /// [`FaultSpec::connack`], [`FaultSpec::drop_connection`]) fail as `spec` says.
    /// Refused (with the control plane's message) when `spec` breaks its rules.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{CertAction, ErrorKey, FaultSpec, MockServer};
    ///
    /// let mock = MockServer::builder().start().await.unwrap();
    /// let fault = mock
    ///     .add_fault(FaultSpec::error(CertAction::Apply, ErrorKey::CertServiceInternal).times(1))
    ///     .unwrap();
    /// assert_eq!(fault.id, "fault-1");
    /// assert_eq!(mock.faults().len(), 1);
    ///
    /// let url = format!("{}/connect-service/v2.0/certificates?action=apply&orgId=o15444172373271&assetId=Uvmm5AXU", mock.url());
    /// let answer: serde_json::Value = reqwest::Client::new()
    ///     .post(url).header("apim-accesstoken", "t").body("{}")
    ///     .send().await.unwrap().json().await.unwrap();
    /// assert_eq!(answer["code"], 99500);
    /// assert!(mock.faults().is_empty(), "spent after one hit");
    ///
    /// let refused = mock.add_fault(FaultSpec::http_status(CertAction::List, 600));
    /// assert_eq!(refused.unwrap_err().to_string(), "httpStatus must be between 100 and 599");
    /// # }
    /// ```
    pub fn add_fault(&self, spec: FaultSpec) -> Result<Fault, FaultError> {
        spec.check()?;
        Ok(self.app.faults.add(spec))
    }

    /// The registered faults, each with its hits and remaining `times`.
    pub fn faults(&self) -> Vec<Fault> {
        self.app.faults.list()
    }

    /// Removes every fault.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{CertAction, FaultSpec};
    ///
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// mock.add_fault(FaultSpec::http_status(CertAction::List, 503)).unwrap();
    /// mock.clear_faults();
    /// assert!(mock.faults().is_empty());
    /// # }
    /// ```
    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// The journal: the EnOS, token and CA calls answered over HTTP, oldest first.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// let mock = enos_cert_mock::MockServer::builder().start().await.unwrap();
    /// reqwest::get(format!("{}/enos/CA/cacert", mock.url())).await.unwrap();
    /// let requests = mock.requests();
    /// assert_eq!(requests.len(), 1);
    /// assert_eq!((requests[0].method.as_str(), requests[0].status), ("GET", 200));
    ///
    /// mock.clear_requests();
    /// assert!(mock.requests().is_empty());
    /// # }
    /// ```
    pub fn requests(&self) -> Vec<JournalEntry> {
        self.app.journal.query(&Filter::default())
    }

    /// Empties the journal.
    pub fn clear_requests(&self) {
        self.app.journal.clear();
    }

    /// Creates a product in `org_id`, as product create would; returns it with its
    /// generated productKey and productSecret.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{ErrorKey, MockServer, NewProduct};
    ///
    /// let mock = MockServer::builder().start().await.unwrap();
    /// let product = mock.create_product("o15444172373271", NewProduct::bi_directional("Meter")).unwrap();
    /// assert!(product.bi_directional_auth);
    /// let refused = mock.create_product("o_unknown", NewProduct::bi_directional("Meter"));
    /// assert_eq!(refused.unwrap_err().key, ErrorKey::OrgUnknown);
    /// # }
    /// ```
    pub fn create_product(&self, org_id: &str, new: NewProduct) -> Result<Product, EnosError> {
        let service = &self.app.service;
        let caller = org(org_id);
        let product_key = service.create_product(&caller, new)?;
        service.get_product(&caller, &product_key)
    }

    /// Returns once every change made so far is in the state file (`--state`); at once
    /// without one. HTTP answers wait for this themselves (MQTT changes nothing).
    pub async fn saved(&self) -> Result<(), SaveError> {
        self.app.service.saved().await
    }

    /// Registers a device in `org_id`, as device create would; returns it with its
    /// generated assetId, deviceKey and deviceSecret.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{MockServer, NewDevice, NewProduct};
    ///
    /// let mock = MockServer::builder().start().await.unwrap();
    /// let org = "o15444172373271";
    /// let product = mock.create_product(org, NewProduct::bi_directional("Meter")).unwrap();
    /// let device = mock.create_device(org, NewDevice::named(&product.product_key, "meter-1")).unwrap();
    /// assert_eq!(device.product_key, product.product_key);
    /// assert_eq!(device.asset_id.len(), 8);
    /// # }
    /// ```
    pub fn create_device(&self, org_id: &str, new: NewDevice) -> Result<Device, EnosError> {
        self.app.service.create_device(&org(org_id), new)
    }

    /// Makes a key in-process (RSA 2048 or P-256), a CSR for it with the subject EnOS
    /// expects (CN = the device's assetId), and applies for a certificate of
    /// `authority`, with the same checks as an apply over HTTP.
    ///
    /// ```
    /// # #[tokio::main] async fn main() {
    /// use enos_cert_mock::{Authority, DeviceId, MockServer};
    ///
    /// let mock = MockServer::builder().start().await.unwrap();
    /// let device = DeviceId::AssetId("Uvmm5AXU".into());
    /// let issued = mock
    ///     .apply_for_certificate("o15444172373271", &device, Authority::Ecc)
    ///     .await
    ///     .unwrap();
    /// assert!(issued.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    /// assert!(issued.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
    /// assert!(issued.serial.get() > 0);
    /// # }
    /// ```
    pub async fn apply_for_certificate(
        &self,
        org_id: &str,
        device: &DeviceId,
        authority: Authority,
    ) -> Result<KeyAndCert, EnosError> {
        let service = &self.app.service;
        let cn = match service.device_names(device) {
            Some(names) => names.asset_id,
            None => device_text(device),
        };
        let (key_pem, csr) = tokio::task::spawn_blocking(move || key_and_csr(authority, &cn))
            .await
            .expect("key generation does not panic");
        let args = CertArgs {
            csr: Some(csr),
            authority: Some(authority),
            ..CertArgs::device(device.clone())
        };
        let issued = service.apply(&org(org_id), &args).await?;
        Ok(KeyAndCert {
            key_pem,
            cert_pem: issued.cert.to_string(),
            serial: issued.serial,
            ca_cert_pem: issued.ca_cert.to_string(),
            authority,
        })
    }
}

fn device_text(device: &DeviceId) -> String {
    match device {
        DeviceId::AssetId(asset_id) => asset_id.clone(),
        DeviceId::Keys { device_key, .. } => device_key.clone(),
    }
}

/// A fresh key and a CSR for it with the six subject attributes EnOS requires.
fn key_and_csr(authority: Authority, cn: &str) -> (String, String) {
    let key = match authority {
        Authority::Rsa => KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, RsaKeySize::_2048),
        Authority::Ecc => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
    }
    .expect("the key algorithms are supported");
    let csr = enos_csr(&key, cn);
    (key.serialize_pem(), csr)
}

/// A PEM CSR over `key` with the six subject attributes EnOS requires
/// (C=CN, ST, L, O, OU = EnOS, CN = `cn`): what a device sends to apply.
/// [`CsrBuilder`] makes the odd ones.
///
/// ```
/// let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
/// let csr = enos_cert_mock::enos_csr(&key, "device-1");
/// assert!(csr.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
/// ```
pub fn enos_csr(key: &KeyPair, cn: &str) -> String {
    CsrBuilder::enos(cn).pem(key)
}
