//! Which topics a device session may use (spec D2): its own `/sys/{pk}/{dk}/` and
//! `/ext/session/{pk}/{dk}/`, and for a gateway those of its sub-devices. A SUBSCRIBE outside
//! them is refused per filter; a PUBLISH outside them ends the session.

use crate::domain::device_methods::TopicRoot;
use crate::domain::model::DeviceNames;

/// `/sys/{pk}/{dk}/{tail}`.
pub fn sys_topic(device: &DeviceNames, tail: &str) -> String {
    format!("/sys/{}/{}/{tail}", device.product_key, device.device_key)
}

/// `/ext/session/{pk}/{dk}/{tail}`.
pub fn ext_session_topic(device: &DeviceNames, tail: &str) -> String {
    format!(
        "/ext/session/{}/{}/{tail}",
        device.product_key, device.device_key
    )
}

/// A topic of one device: its tree, the device and what follows (`thing/measurepoint/post`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceTopic<'a> {
    pub root: TopicRoot,
    pub product_key: &'a str,
    pub device_key: &'a str,
    pub tail: &'a str,
}

impl DeviceTopic<'_> {
    /// Whether this names `device`.
    pub fn is_of(&self, device: &DeviceNames) -> bool {
        self.product_key == device.product_key && self.device_key == device.device_key
    }
}

/// Splits `/sys/{pk}/{dk}/tail` or `/ext/session/{pk}/{dk}/tail`; `None` for any other topic
/// (or an empty key or tail).
pub fn parse(topic: &str) -> Option<DeviceTopic<'_>> {
    let (root, rest) = if let Some(rest) = topic.strip_prefix("/sys/") {
        (TopicRoot::Sys, rest)
    } else if let Some(rest) = topic.strip_prefix("/ext/session/") {
        (TopicRoot::ExtSession, rest)
    } else {
        return None;
    };
    let mut parts = rest.splitn(3, '/');
    let product_key = parts.next().filter(|s| !s.is_empty())?;
    let device_key = parts.next().filter(|s| !s.is_empty())?;
    let tail = parts.next().filter(|s| !s.is_empty())?;
    Some(DeviceTopic {
        root,
        product_key,
        device_key,
        tail,
    })
}

/// The devices a session speaks for: its own and, for a gateway, the sub-devices in its
/// topology (`logged_in` those of them logged in through this session).
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub own: &'a DeviceNames,
    pub topology: &'a [DeviceNames],
    pub logged_in: &'a [DeviceNames],
}

/// Whose topic a PUBLISH is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    Own,
    /// A sub-device logged in through this session.
    SubDevice(DeviceNames),
    /// A sub-device of the gateway's topology that is not logged in: EnOS answers 1009.
    NotLoggedIn(DeviceNames),
}

/// Why a topic is outside a session's scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TopicRefusal {
    #[error("{0:?} is not under /sys/{{productKey}}/{{deviceKey}}/ or /ext/session/{{productKey}}/{{deviceKey}}/")]
    NotADeviceTopic(String),
    #[error("{0:?} is another device's topic (neither this device's nor a sub-device's in its topology)")]
    OtherDevice(String),
    #[error("{0:?} has a wildcard where the product key or device key goes")]
    WildcardDevice(String),
}

impl Scope<'_> {
    fn in_topology(&self, device: &DeviceTopic<'_>) -> Option<&DeviceNames> {
        self.topology.iter().find(|d| device.is_of(d))
    }

    /// Where a device may publish: its own topics, and those of its topology's sub-devices
    /// (answered 1009 while one is not logged in).
    pub fn publisher(&self, topic: &str) -> Result<Speaker, TopicRefusal> {
        let parsed =
            parse(topic).ok_or_else(|| TopicRefusal::NotADeviceTopic(topic.to_string()))?;
        if parsed.is_of(self.own) {
            return Ok(Speaker::Own);
        }
        if let Some(sub) = self.logged_in.iter().find(|d| parsed.is_of(d)) {
            return Ok(Speaker::SubDevice(sub.clone()));
        }
        match self.in_topology(&parsed) {
            Some(sub) => Ok(Speaker::NotLoggedIn(sub.clone())),
            None => Err(TopicRefusal::OtherDevice(topic.to_string())),
        }
    }

    /// Whether a SUBSCRIBE filter stays within the session's devices: the tree and both keys
    /// must be written out (no `+` or `#` there); wildcards after them are fine.
    pub fn may_subscribe(&self, filter: &str) -> Result<(), TopicRefusal> {
        let refuse_wildcard = || TopicRefusal::WildcardDevice(filter.to_string());
        let levels: Vec<&str> = filter.split('/').collect();
        let (root_len, _) = match levels.get(1..3) {
            Some(["sys", _]) => (2, TopicRoot::Sys),
            Some(["ext", "session"]) => (3, TopicRoot::ExtSession),
            _ if filter.starts_with('#') || filter.starts_with('+') => {
                return Err(refuse_wildcard())
            }
            _ => return Err(TopicRefusal::NotADeviceTopic(filter.to_string())),
        };
        if levels.first() != Some(&"") {
            return Err(TopicRefusal::NotADeviceTopic(filter.to_string()));
        }
        let keys: Vec<&str> = levels.iter().skip(root_len).take(2).copied().collect();
        if keys.iter().any(|k| k.contains(['+', '#'])) {
            return Err(refuse_wildcard());
        }
        if keys.len() < 2 || levels.len() <= root_len + 2 {
            return Err(TopicRefusal::NotADeviceTopic(filter.to_string()));
        }
        let named = |d: &&DeviceNames| d.product_key == keys[0] && d.device_key == keys[1];
        if std::iter::once(self.own)
            .chain(self.topology)
            .any(|d| named(&d))
        {
            Ok(())
        } else {
            Err(TopicRefusal::OtherDevice(filter.to_string()))
        }
    }
}

/// Whether a topic filter (MQTT 3.1.1 §4.7: `+` one level, `#` the rest) matches a topic.
pub fn matches(filter: &str, topic: &str) -> bool {
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pk: &str, dk: &str) -> DeviceNames {
        DeviceNames {
            asset_id: format!("{pk}.{dk}"),
            product_key: pk.into(),
            device_key: dk.into(),
        }
    }

    #[test]
    fn topics_split_into_tree_device_and_tail() {
        let t = parse("/sys/pk/dk/thing/measurepoint/post").unwrap();
        assert_eq!(
            (t.root, t.product_key, t.device_key, t.tail),
            (TopicRoot::Sys, "pk", "dk", "thing/measurepoint/post")
        );
        let t = parse("/ext/session/pk/dk/combine/login").unwrap();
        assert_eq!((t.root, t.tail), (TopicRoot::ExtSession, "combine/login"));
        for bad in [
            "/sys/pk/dk",
            "/sys/pk/dk/",
            "/sys//dk/x",
            "sys/pk/dk/x",
            "/ext/pk/dk/x",
            "#",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_gateway_publishes_for_itself_and_its_sub_devices() {
        let own = keys("gw", "g1");
        let topology = [keys("sub", "s1"), keys("sub", "s2")];
        let logged_in = [keys("sub", "s1")];
        let scope = Scope {
            own: &own,
            topology: &topology,
            logged_in: &logged_in,
        };
        assert_eq!(
            scope.publisher("/sys/gw/g1/thing/measurepoint/post"),
            Ok(Speaker::Own)
        );
        assert_eq!(
            scope.publisher("/sys/sub/s1/thing/measurepoint/post"),
            Ok(Speaker::SubDevice(keys("sub", "s1")))
        );
        assert_eq!(
            scope.publisher("/sys/sub/s2/thing/measurepoint/post"),
            Ok(Speaker::NotLoggedIn(keys("sub", "s2")))
        );
        assert!(matches!(
            scope.publisher("/sys/gw/g2/thing/measurepoint/post"),
            Err(TopicRefusal::OtherDevice(_))
        ));
        assert!(matches!(
            scope.publisher("/elsewhere"),
            Err(TopicRefusal::NotADeviceTopic(_))
        ));
    }

    #[test]
    fn subscriptions_stay_within_the_sessions_devices() {
        let own = keys("pk", "dk");
        let topology = [keys("sub", "s1")];
        let scope = Scope {
            own: &own,
            topology: &topology,
            logged_in: &[],
        };
        for ok in [
            "/sys/pk/dk/thing/measurepoint/post_reply",
            "/sys/pk/dk/#",
            "/sys/pk/dk/thing/+/post_reply",
            "/ext/session/pk/dk/#",
            "/sys/sub/s1/#",
        ] {
            assert_eq!(scope.may_subscribe(ok), Ok(()), "{ok}");
        }
        for (bad, wildcard) in [
            ("#", true),
            ("+/#", true),
            ("/sys/#", true),
            ("/sys/pk/+/thing/x", true),
            ("/sys/+/dk/#", true),
            ("/ext/session/#", true),
            ("/sys/pk/other/#", false),
            ("/sys/pk", false),
            ("/other/pk/dk/#", false),
            ("sys/pk/dk/#", false),
        ] {
            let refused = scope.may_subscribe(bad).unwrap_err();
            assert_eq!(
                matches!(refused, TopicRefusal::WildcardDevice(_)),
                wildcard,
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn filters_match_as_mqtt_says() {
        assert!(matches("/sys/pk/dk/#", "/sys/pk/dk/thing/x_reply"));
        assert!(matches(
            "/sys/pk/dk/thing/+/post_reply",
            "/sys/pk/dk/thing/event/post_reply"
        ));
        assert!(matches("/a/b", "/a/b"));
        assert!(!matches("/a/b", "/a/b/c"));
        assert!(!matches("/a/+", "/a/b/c"));
        assert!(matches("/a/#", "/a"));
    }
}
