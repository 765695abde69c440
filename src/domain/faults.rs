//! Injected faults: the next matching calls fail with a catalogue error, an HTTP
//! status and/or a delay. Matching and counting live here; answering is the API's.

use parking_lot::Mutex;
use serde::Serialize;

use super::errors::ErrorKey;

/// What a test asks for (`POST /__admin/faults`), already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FaultSpec {
    /// An action name (`apply`, `product.create`, ...) or `*`.
    pub action: String,
    pub error: Option<ErrorKey>,
    pub http_status: Option<u16>,
    pub delay_ms: Option<u64>,
    /// How many matching calls it hits; `None` = until cleared.
    pub times: Option<u32>,
    pub scope: Option<DeviceScope>,
}

/// A fault limited to one device, named either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceScope {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asset_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub product_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_key: Option<String>,
}

/// The device a call is about, in both forms when the device exists.
#[derive(Debug, Clone, Default)]
pub(crate) struct CallDevice<'a> {
    pub asset_id: Option<&'a str>,
    pub product_key: Option<&'a str>,
    pub device_key: Option<&'a str>,
}

impl DeviceScope {
    fn matches(&self, call: &CallDevice<'_>) -> bool {
        if let Some(asset_id) = &self.asset_id {
            return call.asset_id == Some(asset_id.as_str());
        }
        match (&self.product_key, &self.device_key) {
            (Some(pk), Some(dk)) => {
                call.product_key == Some(pk.as_str()) && call.device_key == Some(dk.as_str())
            }
            _ => false,
        }
    }
}

/// A registered fault and how many hits it has left.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Fault {
    pub id: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
    /// Hits left; absent = until cleared.
    pub times: Option<u32>,
    pub hits: u32,
    #[serde(skip_serializing_if = "Option::is_none", flatten)]
    pub scope: Option<DeviceScope>,
    #[serde(skip)]
    key: Option<ErrorKey>,
}

impl Fault {
    pub(crate) fn error_key(&self) -> Option<ErrorKey> {
        self.key
    }
}

#[derive(Debug, Default)]
struct Registry {
    faults: Vec<Fault>,
    next_id: u64,
}

#[derive(Debug, Default)]
pub struct Faults {
    inner: Mutex<Registry>,
}

impl Faults {
    pub(crate) fn add(&self, spec: FaultSpec) -> Fault {
        let mut r = self.inner.lock();
        r.next_id += 1;
        let fault = Fault {
            id: format!("fault-{}", r.next_id),
            action: spec.action,
            error: spec.error.map(|k| k.def().key),
            http_status: spec.http_status,
            delay_ms: spec.delay_ms,
            times: spec.times,
            hits: 0,
            scope: spec.scope,
            key: spec.error,
        };
        r.faults.push(fault.clone());
        fault
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.inner.lock().faults.clone()
    }

    pub(crate) fn clear(&self) {
        self.inner.lock().faults.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.inner.lock().faults.is_empty()
    }

    /// The first fault matching this call, counted as hit; spent faults are dropped.
    pub(crate) fn take(&self, action: &str, device: &CallDevice<'_>) -> Option<Fault> {
        let mut r = self.inner.lock();
        let index = r.faults.iter().position(|f| {
            (f.action == "*" || f.action == action)
                && f.scope.as_ref().is_none_or(|s| s.matches(device))
        })?;
        let fault = &mut r.faults[index];
        fault.hits += 1;
        if let Some(times) = fault.times.as_mut() {
            *times -= 1;
        }
        let hit = fault.clone();
        if hit.times == Some(0) {
            r.faults.remove(index);
        }
        Some(hit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(action: &str, times: Option<u32>, scope: Option<DeviceScope>) -> FaultSpec {
        FaultSpec {
            action: action.into(),
            error: Some(ErrorKey::CertServiceInternal),
            http_status: None,
            delay_ms: None,
            times,
            scope,
        }
    }

    #[test]
    fn times_count_down_and_spent_faults_go() {
        let faults = Faults::default();
        faults.add(spec("apply", Some(2), None));
        let any = CallDevice::default();
        assert!(faults.take("list", &any).is_none());
        assert_eq!(faults.take("apply", &any).unwrap().times, Some(1));
        assert_eq!(faults.take("apply", &any).unwrap().hits, 2);
        assert!(faults.take("apply", &any).is_none());
        assert!(faults.is_empty());
    }

    #[test]
    fn device_scope_matches_either_name() {
        let faults = Faults::default();
        faults.add(spec(
            "*",
            None,
            Some(DeviceScope {
                asset_id: Some("A1".into()),
                product_key: None,
                device_key: None,
            }),
        ));
        let by_keys = CallDevice {
            asset_id: Some("A1"),
            product_key: Some("P"),
            device_key: Some("D"),
        };
        let other = CallDevice {
            asset_id: Some("A2"),
            ..CallDevice::default()
        };
        assert!(faults.take("renew", &other).is_none());
        assert!(faults.take("renew", &by_keys).is_some());
        assert!(
            faults.take("renew", &by_keys).is_some(),
            "no times: until cleared"
        );
    }
}
