//! The EnOS actions, one enum per resource, so every dispatch is checked by the compiler.
//! Each has the value the `action` query parameter carries and the name the mock knows it
//! by (error catalogue, faults, journal).

/// A resource's actions: how they are spelt on the wire and which may be read with GET.
pub trait ResourceAction: Copy + 'static {
    /// Every action of the resource.
    const ALL: &'static [Self];
    /// The `action` query value.
    fn query_value(self) -> &'static str;
    /// The name in the catalogue, faults and the journal (`apply`, `product.create`, ...).
    fn name(self) -> &'static str;
    /// Reads may be called with GET; everything else needs POST.
    fn is_read(self) -> bool;

    fn from_query(value: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|a| a.query_value() == value)
    }
}

/// `/connect-service/{v2.0|v2.1}/certificates`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertAction {
    Apply,
    Renew,
    Revoke,
    List,
}

impl CertAction {
    pub const fn name(self) -> &'static str {
        match self {
            CertAction::Apply => "apply",
            CertAction::Renew => "renew",
            CertAction::Revoke => "revoke",
            CertAction::List => "list",
        }
    }
}

impl ResourceAction for CertAction {
    const ALL: &'static [Self] = &[
        CertAction::Apply,
        CertAction::Renew,
        CertAction::Revoke,
        CertAction::List,
    ];
    fn query_value(self) -> &'static str {
        self.name()
    }
    fn name(self) -> &'static str {
        CertAction::name(self)
    }
    fn is_read(self) -> bool {
        self == CertAction::List
    }
}

/// The four actions products and devices share (A8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordAction {
    Create,
    Get,
    Update,
    Delete,
}

impl RecordAction {
    const ALL: &'static [RecordAction] = &[
        RecordAction::Create,
        RecordAction::Get,
        RecordAction::Update,
        RecordAction::Delete,
    ];

    const fn query_value(self) -> &'static str {
        match self {
            RecordAction::Create => "create",
            RecordAction::Get => "get",
            RecordAction::Update => "update",
            RecordAction::Delete => "delete",
        }
    }
}

/// `/connect-service/{v2.0|v2.1}/products`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProductAction(pub RecordAction);

/// `/connect-service/{v2.0|v2.1}/devices`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceAction(pub RecordAction);

impl ProductAction {
    pub const fn name(self) -> &'static str {
        match self.0 {
            RecordAction::Create => "product.create",
            RecordAction::Get => "product.get",
            RecordAction::Update => "product.update",
            RecordAction::Delete => "product.delete",
        }
    }
}

impl DeviceAction {
    pub const fn name(self) -> &'static str {
        match self.0 {
            RecordAction::Create => "device.create",
            RecordAction::Get => "device.get",
            RecordAction::Update => "device.update",
            RecordAction::Delete => "device.delete",
        }
    }
}

/// Products and devices share their four actions; only the names differ.
macro_rules! record_resource {
    ($resource:ident) => {
        impl ResourceAction for $resource {
            const ALL: &'static [Self] = &[
                $resource(RecordAction::ALL[0]),
                $resource(RecordAction::ALL[1]),
                $resource(RecordAction::ALL[2]),
                $resource(RecordAction::ALL[3]),
            ];
            fn query_value(self) -> &'static str {
                self.0.query_value()
            }
            fn name(self) -> &'static str {
                $resource::name(self)
            }
            fn is_read(self) -> bool {
                self.0 == RecordAction::Get
            }
        }
    };
}

record_resource!(ProductAction);
record_resource!(DeviceAction);

/// Any EnOS business action: what a fault or a journal entry names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Cert(CertAction),
    Product(ProductAction),
    Device(DeviceAction),
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Cert(a) => a.name(),
            Action::Product(a) => a.name(),
            Action::Device(a) => a.name(),
        }
    }

    /// Every action, in the catalogue's order.
    pub fn all() -> impl Iterator<Item = Action> {
        let certs = CertAction::ALL.iter().map(|a| Action::Cert(*a));
        let products = ProductAction::ALL.iter().map(|a| Action::Product(*a));
        let devices = DeviceAction::ALL.iter().map(|a| Action::Device(*a));
        certs.chain(products).chain(devices)
    }

    pub fn from_name(name: &str) -> Option<Action> {
        Action::all().find(|a| a.name() == name)
    }
}

impl From<CertAction> for Action {
    fn from(a: CertAction) -> Self {
        Action::Cert(a)
    }
}

impl From<ProductAction> for Action {
    fn from(a: ProductAction) -> Self {
        Action::Product(a)
    }
}

impl From<DeviceAction> for Action {
    fn from(a: DeviceAction) -> Self {
        Action::Device(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::errors::ALL;

    #[test]
    fn every_action_is_in_the_catalogue_list_in_order() {
        let names: Vec<_> = Action::all().map(Action::name).collect();
        assert_eq!(names, ALL);
    }

    #[test]
    fn query_values_are_per_resource() {
        assert_eq!(CertAction::from_query("renew"), Some(CertAction::Renew));
        assert_eq!(
            ProductAction::from_query("create"),
            Some(ProductAction(RecordAction::Create))
        );
        assert_eq!(DeviceAction::from_query("product.create"), None);
        assert!(DeviceAction(RecordAction::Get).is_read());
        assert!(!CertAction::Apply.is_read());
    }
}
