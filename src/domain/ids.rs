//! Every identifier the mock makes up: productKey, assetId, deviceKey, secrets, requestIds.
//!
//! With a seed the sequence is reproducible: the same EnOS calls in the same
//! order give the same identifiers. Control calls draw nothing from it.

use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// Lengths EnOS uses.
pub(crate) const PRODUCT_KEY_LEN: usize = 8;
pub(crate) const ASSET_ID_LEN: usize = 8;
pub(crate) const DEVICE_KEY_LEN: usize = 10;
pub(crate) const DEVICE_SECRET_LEN: usize = 20;
pub(crate) const PRODUCT_SECRET_LEN: usize = 16;

#[derive(Debug)]
pub struct Ids {
    seed: Option<u64>,
    rng: Mutex<StdRng>,
}

fn rng_for(seed: Option<u64>) -> StdRng {
    match seed {
        Some(seed) => StdRng::seed_from_u64(seed),
        None => StdRng::from_entropy(),
    }
}

impl Ids {
    pub(crate) fn new(seed: Option<u64>) -> Self {
        Ids {
            seed,
            rng: Mutex::new(rng_for(seed)),
        }
    }

    pub(crate) fn seed(&self) -> Option<u64> {
        self.seed
    }

    /// Back to the start of the seeded sequence (a fresh random one without a seed).
    pub(crate) fn reset(&self) {
        *self.rng.lock() = rng_for(self.seed);
    }

    pub(crate) fn alnum(&self, len: usize) -> String {
        let mut rng = self.rng.lock();
        (0..len)
            .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
            .collect()
    }

    /// A UUID v4 string, as EnOS writes requestIds.
    pub(crate) fn uuid(&self) -> String {
        let mut bytes = [0u8; 16];
        self.rng.lock().fill_bytes(&mut bytes);
        uuid::Builder::from_random_bytes(bytes)
            .into_uuid()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_sequences_repeat() {
        let a = Ids::new(Some(7));
        let b = Ids::new(Some(7));
        assert_eq!(a.alnum(8), b.alnum(8));
        assert_eq!(a.uuid(), b.uuid());
        let first = Ids::new(Some(7)).alnum(8);
        a.reset();
        assert_eq!(a.alnum(8), first);
        assert_ne!(Ids::new(Some(8)).alnum(20), Ids::new(Some(7)).alnum(20));
    }

    #[test]
    fn shapes() {
        let ids = Ids::new(None);
        let key = ids.alnum(PRODUCT_KEY_LEN);
        assert_eq!(key.len(), 8);
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()));
        let uuid = ids.uuid();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "4");
    }
}
