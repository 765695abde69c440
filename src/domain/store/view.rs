//! Read-only views over the whole store, for the dashboard: the products and a
//! filtered page of devices with their certificates.

use super::Store;
use crate::domain::model::{CertRecord, Device, Product};

/// One page of the devices a filter matches, in (org, product, assetId) order.
#[derive(Debug, Default)]
pub struct DevicePage {
    /// How many devices the filter matches in all.
    pub total: usize,
    pub devices: Vec<(Device, Vec<CertRecord>)>,
}

/// The order devices are listed in.
fn key<'a>(d: &&'a Device) -> (&'a str, &'a str, &'a str) {
    (&d.org_id, &d.product_key, &d.asset_id)
}

impl Store {
    /// Every product, by org and key, with how many devices it has.
    pub(crate) fn products(&self) -> Vec<(Product, usize)> {
        let s = self.tables.read();
        let mut products: Vec<(Product, usize)> = s
            .products
            .values()
            .map(|p| {
                let devices = s.product_devices.get(&p.product_key).copied().unwrap_or(0);
                (p.clone(), devices)
            })
            .collect();
        products.sort_by(|(a, _), (b, _)| {
            (&a.org_id, &a.product_key).cmp(&(&b.org_id, &b.product_key))
        });
        products
    }

    /// The devices `matches` accepts, `offset` and `limit` applied after sorting.
    /// Only the page is sorted in full, so a large store costs one pass.
    pub(crate) fn device_page(
        &self,
        matches: impl Fn(&Device) -> bool,
        offset: usize,
        limit: usize,
    ) -> DevicePage {
        let s = self.tables.read();
        let mut found: Vec<&Device> = s
            .devices
            .values()
            .map(|slot| &slot.device)
            .filter(|d| matches(d))
            .collect();
        let total = found.len();
        let end = offset.saturating_add(limit).min(total);
        if offset >= end {
            return DevicePage {
                total,
                devices: Vec::new(),
            };
        }
        if end < total {
            found.select_nth_unstable_by(end, |a, b| key(a).cmp(&key(b)));
            found.truncate(end);
        }
        found.sort_unstable_by(|a, b| key(a).cmp(&key(b)));
        let devices = found[offset..]
            .iter()
            .map(|d| {
                let certs = d
                    .certs
                    .iter()
                    .filter_map(|serial| s.certs.get(serial).cloned())
                    .collect();
                ((*d).clone(), certs)
            })
            .collect();
        DevicePage { total, devices }
    }
}
