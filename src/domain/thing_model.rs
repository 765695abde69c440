//! A product's thing model, as far as the mock checks one: the identifiers of its measure
//! points, attributes, events and services. Declared per product in the fixtures
//! (`"thingModel"`); a product without one accepts whatever its devices send, as the mock
//! has no model service to ask.

use std::collections::BTreeSet;

use serde::Deserialize;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ThingModel {
    #[serde(default)]
    pub measurepoints: BTreeSet<String>,
    #[serde(default)]
    pub attributes: BTreeSet<String>,
    #[serde(default)]
    pub events: BTreeSet<String>,
    #[serde(default)]
    pub services: BTreeSet<String>,
}

/// What a device sent that its product's model does not define.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelMismatch {
    #[error("measurepoint {0:?} is not defined in the thing model")]
    Measurepoint(String),
    #[error("attribute {0:?} is not defined in the thing model")]
    Attribute(String),
    #[error("event {0:?} is not defined in the thing model")]
    Event(String),
}

impl ThingModel {
    /// The first of `identifiers` the model does not define as a measure point.
    pub fn check_measurepoints<'a>(
        &self,
        mut identifiers: impl Iterator<Item = &'a String>,
    ) -> Result<(), ModelMismatch> {
        match identifiers.find(|id| !self.measurepoints.contains(*id)) {
            Some(id) => Err(ModelMismatch::Measurepoint(id.clone())),
            None => Ok(()),
        }
    }

    pub fn check_attributes<'a>(
        &self,
        mut identifiers: impl Iterator<Item = &'a String>,
    ) -> Result<(), ModelMismatch> {
        match identifiers.find(|id| !self.attributes.contains(*id)) {
            Some(id) => Err(ModelMismatch::Attribute(id.clone())),
            None => Ok(()),
        }
    }

    pub fn check_event(&self, identifier: &str) -> Result<(), ModelMismatch> {
        if self.events.contains(identifier) {
            Ok(())
        } else {
            Err(ModelMismatch::Event(identifier.to_string()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_identifiers_are_named() {
        let model: ThingModel =
            serde_json::from_str(r#"{"measurepoints": ["temp"], "events": ["hot"]}"#).unwrap();
        let names = ["temp".to_string(), "rpm".to_string()];
        assert_eq!(
            model.check_measurepoints(names.iter()),
            Err(ModelMismatch::Measurepoint("rpm".into()))
        );
        assert!(model.check_measurepoints(names[..1].iter()).is_ok());
        assert!(model.check_event("hot").is_ok());
        assert_eq!(
            model.check_event("cold").unwrap_err().to_string(),
            "event \"cold\" is not defined in the thing model"
        );
        assert!(serde_json::from_str::<ThingModel>(r#"{"points": []}"#).is_err());
    }
}
