//! The requests a device sends EnOS over MQTT, one enum, so every dispatch is checked by the
//! compiler. Each has the `method` EnOS names it by (the reply catalogue, `mqtt.reply` faults,
//! the journal) and the topic it is published on, after `/sys/{pk}/{dk}/` or
//! `/ext/session/{pk}/{dk}/` (the EnOS device-connection reference; the official SDK's
//! `DeliveryTopicFormat.py`).

/// Which of the two topic trees a request is published under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicRoot {
    /// `/sys/{productKey}/{deviceKey}/...`
    Sys,
    /// `/ext/session/{productKey}/{deviceKey}/...`
    ExtSession,
}

/// An upstream request: the device asks, EnOS answers on the request topic + `_reply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceMethod {
    MeasurepointPost,
    MeasurepointPostBatch,
    MeasurepointResume,
    MeasurepointResumeBatch,
    /// `thing/event/{identifier}/post`.
    EventPost,
    AttributeUpdate,
    AttributeQuery,
    AttributeDelete,
    TagUpdate,
    TagQuery,
    TagDelete,
    TopoAdd,
    TopoGet,
    TopoDelete,
    DeviceRegister,
    SubDeviceLogin,
    SubDeviceLoginBatch,
    SubDeviceLogout,
    ModelUpRaw,
    TslTemplateGet,
    OtaVersionReport,
    OtaProgressReport,
    OtaUpdateRequest,
    OtaGetVersion,
}

use DeviceMethod::*;

impl DeviceMethod {
    pub const ALL: &'static [DeviceMethod] = &[
        MeasurepointPost,
        MeasurepointPostBatch,
        MeasurepointResume,
        MeasurepointResumeBatch,
        EventPost,
        AttributeUpdate,
        AttributeQuery,
        AttributeDelete,
        TagUpdate,
        TagQuery,
        TagDelete,
        TopoAdd,
        TopoGet,
        TopoDelete,
        DeviceRegister,
        SubDeviceLogin,
        SubDeviceLoginBatch,
        SubDeviceLogout,
        ModelUpRaw,
        TslTemplateGet,
        OtaVersionReport,
        OtaProgressReport,
        OtaUpdateRequest,
        OtaGetVersion,
    ];

    /// The `method` field EnOS documents (`thing.event.{identifier}.post` is named
    /// `thing.event.post` here, for every identifier).
    pub const fn name(self) -> &'static str {
        match self {
            MeasurepointPost => "thing.measurepoint.post",
            MeasurepointPostBatch => "thing.measurepoint.post.batch",
            MeasurepointResume => "thing.measurepoint.resume",
            MeasurepointResumeBatch => "thing.measurepoint.resume.batch",
            EventPost => "thing.event.post",
            AttributeUpdate => "thing.attribute.update",
            AttributeQuery => "thing.attribute.query",
            AttributeDelete => "thing.attribute.delete",
            TagUpdate => "thing.tag.update",
            TagQuery => "thing.tag.query",
            TagDelete => "thing.tag.delete",
            TopoAdd => "thing.topo.add",
            TopoGet => "thing.topo.get",
            TopoDelete => "thing.topo.delete",
            DeviceRegister => "thing.device.register",
            SubDeviceLogin => "combine.login",
            SubDeviceLoginBatch => "combine.login.batch",
            SubDeviceLogout => "combine.logout",
            ModelUpRaw => "thing.model.up_raw",
            TslTemplateGet => "thing.tsltemplate.get",
            OtaVersionReport => "ota.inform",
            OtaProgressReport => "ota.progress",
            OtaUpdateRequest => "ota.request",
            OtaGetVersion => "ota.device.getversion",
        }
    }

    pub fn from_name(name: &str) -> Option<DeviceMethod> {
        Self::ALL.iter().copied().find(|m| m.name() == name)
    }

    /// The tree and the topic levels after `{productKey}/{deviceKey}/`; `*` stands for the
    /// event identifier.
    pub const fn topic(self) -> (TopicRoot, &'static str) {
        let sys = TopicRoot::Sys;
        match self {
            MeasurepointPost => (sys, "thing/measurepoint/post"),
            MeasurepointPostBatch => (sys, "thing/measurepoint/post/batch"),
            MeasurepointResume => (sys, "thing/measurepoint/resume"),
            MeasurepointResumeBatch => (sys, "thing/measurepoint/resume/batch"),
            EventPost => (sys, "thing/event/*/post"),
            AttributeUpdate => (sys, "thing/attribute/update"),
            AttributeQuery => (sys, "thing/attribute/query"),
            AttributeDelete => (sys, "thing/attribute/delete"),
            TagUpdate => (sys, "thing/tag/update"),
            TagQuery => (sys, "thing/tag/query"),
            TagDelete => (sys, "thing/tag/delete"),
            TopoAdd => (sys, "thing/topo/add"),
            TopoGet => (sys, "thing/topo/get"),
            TopoDelete => (sys, "thing/topo/delete"),
            DeviceRegister => (sys, "thing/device/register"),
            SubDeviceLogin => (TopicRoot::ExtSession, "combine/login"),
            SubDeviceLoginBatch => (TopicRoot::ExtSession, "combine/login/batch"),
            SubDeviceLogout => (TopicRoot::ExtSession, "combine/logout"),
            ModelUpRaw => (sys, "thing/model/up_raw"),
            TslTemplateGet => (sys, "thing/tsltemplate/get"),
            OtaVersionReport => (sys, "ota/device/inform"),
            OtaProgressReport => (sys, "ota/device/progress"),
            OtaUpdateRequest => (sys, "ota/device/request"),
            OtaGetVersion => (sys, "ota/device/getversion"),
        }
    }

    /// The request a topic's tail (after `{productKey}/{deviceKey}/`) names, with the event
    /// identifier of `thing/event/{identifier}/post`.
    pub fn from_topic(root: TopicRoot, tail: &str) -> Option<(DeviceMethod, Option<&str>)> {
        if let Some(identifier) = tail
            .strip_prefix("thing/event/")
            .and_then(|rest| rest.strip_suffix("/post"))
            .filter(|id| root == TopicRoot::Sys && !id.is_empty() && !id.contains('/'))
        {
            return Some((EventPost, Some(identifier)));
        }
        Self::ALL
            .iter()
            .copied()
            .find(|m| m.topic() == (root, tail) && *m != EventPost)
            .map(|m| (m, None))
    }

    /// Whether a request's `method` field names this request. EnOS compares them (code
    /// 1260); the official Python SDK writes two of them its own way, which pass:
    /// `thing.event.%s.post{identifier}` and `Ota.device.getversion`.
    pub fn accepts(self, method: &str, event: Option<&str>) -> bool {
        match self {
            EventPost => {
                let identifier = event.unwrap_or_default();
                method == format!("thing.event.{identifier}.post")
                    || method.starts_with("thing.event.")
            }
            OtaGetVersion => method.eq_ignore_ascii_case(self.name()),
            _ => method == self.name(),
        }
    }

    /// Requests whose payload is not JSON (passed through to the product's script on EnOS).
    pub fn is_raw(self) -> bool {
        self == ModelUpRaw
    }

    /// Requests that change what the store keeps: with `--state` the reply waits until the
    /// file holds the change.
    pub fn changes_state(self) -> bool {
        matches!(
            self,
            AttributeUpdate | AttributeDelete | TagUpdate | TagDelete | DeviceRegister
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_method_is_found_by_its_topic_and_name() {
        for &m in DeviceMethod::ALL {
            assert_eq!(DeviceMethod::from_name(m.name()), Some(m));
            let (root, tail) = m.topic();
            let tail = tail.replace('*', "overheat");
            let (found, event) = DeviceMethod::from_topic(root, &tail).unwrap();
            assert_eq!(found, m, "{tail}");
            assert_eq!(event.is_some(), m == EventPost);
        }
        assert_eq!(
            DeviceMethod::from_topic(TopicRoot::ExtSession, "thing/measurepoint/post"),
            None
        );
        assert_eq!(
            DeviceMethod::from_topic(TopicRoot::Sys, "thing/event//post"),
            None
        );
        assert_eq!(DeviceMethod::from_topic(TopicRoot::Sys, "thing/nope"), None);
    }

    #[test]
    fn the_sdk_spellings_of_methods_are_accepted() {
        assert!(EventPost.accepts("thing.event.%s.postoverheat", Some("overheat")));
        assert!(EventPost.accepts("thing.event.overheat.post", Some("overheat")));
        assert!(!EventPost.accepts("thing.measurepoint.post", Some("overheat")));
        assert!(OtaGetVersion.accepts("Ota.device.getversion", None));
        assert!(MeasurepointPost.accepts("thing.measurepoint.post", None));
        assert!(!MeasurepointPost.accepts("thing.attribute.update", None));
    }
}
