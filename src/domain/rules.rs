//! The EnOS rules that do not depend on storage: device selection, org access, validDay,
//! validity windows.

use super::errors::{EnosError, ErrorKey};
use super::model::{CallerApp, Org, Product};

pub(crate) const DAY_MS: i64 = 86_400_000;

/// Org access (B10): an authenticated app may only touch its own org. `caller` is
/// `None` when the call was not authenticated as a known app (auth off, or a token the
/// mock cannot open), and then every org is open.
pub fn org_access(caller: Option<&CallerApp>, org_id: &str) -> Result<(), EnosError> {
    match caller {
        Some(own) if own.org_id != org_id => {
            Err(EnosError::with(ErrorKey::OrgDenied, &[("orgId", org_id)]))
        }
        _ => Ok(()),
    }
}

/// Why the control plane refuses to declare an org.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgError {
    #[error("orgId must not be empty")]
    EmptyOrgId,
    #[error("appKey and appSecret must not be empty")]
    EmptyAppCredentials,
    #[error("appKey {app_key:?} already belongs to org {org_id:?}")]
    AppKeyTaken { app_key: String, org_id: String },
    #[error("an appKey is listed twice")]
    AppKeyTwice,
}

/// An org as the control plane declares it: a name, and apps with both halves.
pub fn check_new_org(org: &Org) -> Result<(), OrgError> {
    if org.org_id.is_empty() {
        return Err(OrgError::EmptyOrgId);
    }
    if org
        .apps
        .iter()
        .any(|a| a.app_key.is_empty() || a.app_secret.is_empty())
    {
        return Err(OrgError::EmptyAppCredentials);
    }
    Ok(())
}

/// validDay rules 1–3: absent → the product default; above the product maximum → refused.
pub fn resolve_valid_day(requested: Option<i64>, product: &Product) -> Result<i64, EnosError> {
    match requested {
        None => Ok(product.default_valid_day as i64),
        Some(days) if days > product.max_valid_day as i64 => {
            Err(EnosError::new(ErrorKey::ValidDayExceedsMax))
        }
        Some(days) => Ok(days),
    }
}

/// validDay rules 4–5: the window starts now and never outlives the root.
/// `None` when the root itself has expired.
pub fn validity_window(now_ms: i64, valid_day: i64, root_not_after_ms: i64) -> Option<(i64, i64)> {
    if now_ms >= root_not_after_ms {
        return None;
    }
    let wanted = now_ms.saturating_add(valid_day.saturating_mul(DAY_MS));
    Some((now_ms, wanted.min(root_not_after_ms)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::model::{DeviceId, DeviceNames};

    fn product(default_valid_day: u32, max_valid_day: u32) -> Product {
        let text = r#"{"orgs": [{"orgId": "o"}],
            "products": [{"orgId": "o", "productKey": "p", "biDirectionalAuth": true}]}"#;
        let mut p = crate::domain::fixtures::Fixtures::parse(text)
            .unwrap()
            .load(0)
            .unwrap()
            .products
            .remove(0);
        p.default_valid_day = default_valid_day;
        p.max_valid_day = max_valid_day;
        p
    }

    #[test]
    fn asset_id_wins_and_half_keys_are_invalid() {
        assert_eq!(
            DeviceId::from_parts(Some("a"), Some("p"), Some("d")).unwrap(),
            DeviceId::AssetId("a".into())
        );
        assert!(DeviceId::from_parts(None, Some("p"), None).is_err());
        assert!(DeviceId::from_parts(Some(""), Some("p"), Some("")).is_err());
    }

    #[test]
    fn an_identifier_names_a_device_by_either_name() {
        let names = DeviceNames {
            asset_id: "A1".into(),
            product_key: "P".into(),
            device_key: "D".into(),
        };
        assert!(DeviceId::AssetId("A1".into()).names(&names));
        assert!(!DeviceId::AssetId("A2".into()).names(&names));
        let keys = DeviceId::Keys {
            product_key: "P".into(),
            device_key: "D".into(),
        };
        assert!(keys.names(&names));
        let unknown = DeviceNames::from(DeviceId::AssetId("A1".into()));
        assert!(!keys.names(&unknown), "unknown names match nothing");
        assert_eq!(
            serde_json::to_string(&keys).unwrap(),
            r#"{"productKey":"P","deviceKey":"D"}"#
        );
    }

    #[test]
    fn valid_day_defaults_and_maximum() {
        let p = product(730, 1095);
        assert_eq!(resolve_valid_day(None, &p).unwrap(), 730);
        assert_eq!(resolve_valid_day(Some(1095), &p).unwrap(), 1095);
        assert_eq!(
            resolve_valid_day(Some(1096), &p).unwrap_err().key,
            ErrorKey::ValidDayExceedsMax
        );
    }

    #[test]
    fn an_app_only_touches_its_own_org() {
        let caller = CallerApp {
            app_key: "k".into(),
            org_id: "o1".into(),
        };
        assert!(org_access(None, "o1").is_ok());
        assert!(org_access(Some(&caller), "o1").is_ok());
        let e = org_access(Some(&caller), "o2").unwrap_err();
        assert_eq!(e.key, ErrorKey::OrgDenied);
        assert_eq!(e.msg, "Denied resource:  orgId o2");
    }

    #[test]
    fn window_is_clamped_to_the_root() {
        assert_eq!(validity_window(0, 10, 100 * DAY_MS), Some((0, 10 * DAY_MS)));
        assert_eq!(
            validity_window(0, 1000, 100 * DAY_MS),
            Some((0, 100 * DAY_MS))
        );
        assert_eq!(validity_window(100 * DAY_MS, 1, 100 * DAY_MS), None);
    }
}
