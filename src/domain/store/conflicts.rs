//! The conflict indexes (B5): which certificates, and reservations still being
//! signed, hold each subject CN per authority and each public key per device.
//! Revoked certificates leave the indexes; expired ones stay until checked, so
//! every check asks whether a serial is still live.

use std::sync::Arc;

use super::HashMap;
use crate::domain::errors::{EnosError, ErrorKey};
use crate::domain::model::{Authority, CertRecord};
use crate::domain::serial::Serial;

/// What a new certificate must not collide with.
pub(crate) struct IssueCheck<'a> {
    pub asset_id: &'a Arc<str>,
    pub authority: Authority,
    pub common_name: &'a Arc<str>,
    pub public_key: &'a Arc<[u8]>,
    /// Apply refuses a CN already in a valid certificate of the same authority; renew does not.
    pub unique_subject: bool,
}

/// The devices holding certificates for one public key, each with its serials.
/// A device may renew or re-apply with its own key any number of times; the
/// 11833 check only looks at the other devices, so it stays cheap.
#[derive(Debug, Default)]
struct KeyHolders(Vec<(Arc<str>, Vec<Serial>)>);

impl KeyHolders {
    fn add(&mut self, owner: &Arc<str>, serial: Serial) {
        match self.0.iter_mut().find(|(o, _)| o == owner) {
            Some((_, serials)) => serials.push(serial),
            None => self.0.push((owner.clone(), vec![serial])),
        }
    }

    /// Returns whether no serial is left.
    fn remove(&mut self, serial: Serial) -> bool {
        for (_, serials) in &mut self.0 {
            serials.retain(|s| *s != serial);
        }
        self.0.retain(|(_, serials)| !serials.is_empty());
        self.0.is_empty()
    }

    fn others<'a>(&'a self, owner: &'a Arc<str>) -> impl Iterator<Item = Serial> + 'a {
        self.0
            .iter()
            .filter(move |(o, _)| o != owner)
            .flat_map(|(_, serials)| serials.iter().copied())
    }
}

/// One certificate's entries in the indexes.
pub(super) struct Entry<'a> {
    pub(super) serial: Serial,
    pub(super) authority: Authority,
    pub(super) common_name: &'a Arc<str>,
    pub(super) public_key: &'a Arc<[u8]>,
}

impl<'a> Entry<'a> {
    /// A stored certificate's entries.
    pub(super) fn of(cert: &'a CertRecord) -> Self {
        Entry {
            serial: cert.serial,
            authority: cert.authority,
            common_name: &cert.common_name,
            public_key: &cert.public_key,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct Conflicts {
    /// Serials by authority and CN.
    subjects: HashMap<(Authority, Arc<str>), Vec<Serial>>,
    /// Serials by public key, grouped by device.
    public_keys: HashMap<Arc<[u8]>, KeyHolders>,
}

impl Conflicts {
    /// Refuses a key that another device holds in a live certificate (11833), then,
    /// for apply, a CN that a live certificate of the same authority already has.
    pub(super) fn check(
        &self,
        check: &IssueCheck<'_>,
        is_live: impl Fn(Serial) -> bool,
    ) -> Result<(), EnosError> {
        if let Some(holders) = self.public_keys.get(check.public_key) {
            if holders.others(check.asset_id).any(&is_live) {
                return Err(EnosError::new(ErrorKey::CertBoundElsewhere));
            }
        }
        if !check.unique_subject {
            return Ok(());
        }
        let subject_key = (check.authority, check.common_name.clone());
        let holder = self
            .subjects
            .get(&subject_key)
            .and_then(|serials| serials.iter().copied().find(|s| is_live(*s)));
        match holder {
            Some(other) => Err(EnosError::detailed(
                ErrorKey::DuplicateSubject,
                "the subject is already used by a valid certificate",
                &format!("CN {} is the subject of certSn {other}", check.common_name),
            )),
            None => Ok(()),
        }
    }

    /// Adds a certificate (or reservation) held by `owner`; `remove` takes it out.
    pub(super) fn add(&mut self, entry: &Entry<'_>, owner: &Arc<str>) {
        self.subjects
            .entry((entry.authority, entry.common_name.clone()))
            .or_default()
            .push(entry.serial);
        self.public_keys
            .entry(entry.public_key.clone())
            .or_default()
            .add(owner, entry.serial);
    }

    pub(super) fn remove(&mut self, entry: &Entry<'_>) {
        let subject_key = (entry.authority, entry.common_name.clone());
        if let Some(v) = self.subjects.get_mut(&subject_key) {
            v.retain(|s| *s != entry.serial);
            if v.is_empty() {
                self.subjects.remove(&subject_key);
            }
        }
        if let Some(holders) = self.public_keys.get_mut(entry.public_key) {
            if holders.remove(entry.serial) {
                self.public_keys.remove(entry.public_key);
            }
        }
    }

    #[cfg(test)]
    fn is_empty(&self) -> bool {
        self.subjects.is_empty() && self.public_keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arc(s: &str) -> Arc<str> {
        Arc::from(s)
    }

    fn key(k: &[u8]) -> Arc<[u8]> {
        Arc::from(k)
    }

    struct Case {
        asset_id: Arc<str>,
        authority: Authority,
        cn: Arc<str>,
        key: Arc<[u8]>,
    }

    impl Case {
        fn new(asset_id: &str, authority: Authority, cn: &str, k: &[u8]) -> Case {
            Case {
                asset_id: arc(asset_id),
                authority,
                cn: arc(cn),
                key: key(k),
            }
        }

        fn check(&self, unique_subject: bool) -> IssueCheck<'_> {
            IssueCheck {
                asset_id: &self.asset_id,
                authority: self.authority,
                common_name: &self.cn,
                public_key: &self.key,
                unique_subject,
            }
        }

        fn entry(&self, serial: u64) -> Entry<'_> {
            Entry {
                serial: Serial::new(serial),
                authority: self.authority,
                common_name: &self.cn,
                public_key: &self.key,
            }
        }
    }

    fn all_live(_: Serial) -> bool {
        true
    }

    /// Conflicts holding serial 1: device a1, RSA, CN "dev", key [1].
    fn holding_one() -> (Conflicts, Case) {
        let first = Case::new("a1", Authority::Rsa, "dev", &[1]);
        let mut c = Conflicts::default();
        c.add(&first.entry(1), &first.asset_id);
        (c, first)
    }

    #[test]
    fn a_key_live_on_another_device_is_refused() {
        let (c, _) = holding_one();
        let other = Case::new("a2", Authority::Rsa, "other", &[1]);
        let e = c.check(&other.check(true), all_live).unwrap_err();
        assert_eq!(e.key, ErrorKey::CertBoundElsewhere);
        // Renew does not lift the key check.
        let e = c.check(&other.check(false), all_live).unwrap_err();
        assert_eq!(e.key, ErrorKey::CertBoundElsewhere);
    }

    #[test]
    fn a_device_may_reuse_its_own_key() {
        let (c, _) = holding_one();
        let same = Case::new("a1", Authority::Rsa, "new-cn", &[1]);
        assert!(c.check(&same.check(true), all_live).is_ok());
    }

    #[test]
    fn a_live_cn_of_the_same_authority_is_refused_on_apply_only() {
        let (c, _) = holding_one();
        let dup = Case::new("a2", Authority::Rsa, "dev", &[2]);
        let e = c.check(&dup.check(true), all_live).unwrap_err();
        assert_eq!(e.key, ErrorKey::DuplicateSubject);
        assert_eq!(
            e.msg,
            "Duplicate subject by certificate request!message:  the subject is already \
             used by a valid certificate, detail message: CN dev is the subject of certSn 1"
        );
        assert!(c.check(&dup.check(false), all_live).is_ok());
        let other_authority = Case::new("a2", Authority::Ecc, "dev", &[2]);
        assert!(c.check(&other_authority.check(true), all_live).is_ok());
    }

    #[test]
    fn serials_that_are_no_longer_live_do_not_conflict() {
        let (c, _) = holding_one();
        let key_reuse = Case::new("a2", Authority::Rsa, "dev", &[1]);
        assert!(c.check(&key_reuse.check(true), |_| false).is_ok());
        assert!(c
            .check(&key_reuse.check(true), |s| s != Serial::new(1))
            .is_ok());
    }

    #[test]
    fn a_live_serial_among_dead_ones_still_conflicts() {
        let (mut c, first) = holding_one();
        c.add(&first.entry(2), &first.asset_id);
        let dup = Case::new("a2", Authority::Rsa, "dev", &[9]);
        let e = c
            .check(&dup.check(true), |s| s == Serial::new(2))
            .unwrap_err();
        assert!(e.msg.ends_with("certSn 2"), "{}", e.msg);
    }

    #[test]
    fn removing_every_serial_empties_the_indexes() {
        let (mut c, first) = holding_one();
        c.add(&first.entry(2), &first.asset_id);
        let other = Case::new("a2", Authority::Rsa, "dev", &[1]);
        c.remove(&first.entry(1));
        assert!(c.check(&other.check(true), all_live).is_err());
        c.remove(&first.entry(2));
        assert!(c.check(&other.check(true), all_live).is_ok());
        assert!(c.is_empty());
        // Removing what is not there is harmless.
        c.remove(&first.entry(3));
        assert!(c.is_empty());
    }

    #[test]
    fn key_holders_group_serials_by_device() {
        let (a1, a2) = (arc("a1"), arc("a2"));
        let mut h = KeyHolders::default();
        h.add(&a1, Serial::new(1));
        h.add(&a2, Serial::new(2));
        h.add(&a1, Serial::new(3));
        assert_eq!(h.others(&a1).collect::<Vec<_>>(), vec![Serial::new(2)]);
        assert_eq!(
            h.others(&a2).collect::<Vec<_>>(),
            vec![Serial::new(1), Serial::new(3)]
        );
        assert!(!h.remove(Serial::new(2)));
        assert_eq!(h.others(&a1).count(), 0);
        assert!(!h.remove(Serial::new(1)));
        assert!(h.remove(Serial::new(3)));
    }
}
