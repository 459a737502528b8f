//! Channel name rules: namespace lookup, private prefix, user-limited channels, length limits.

use crate::config::{Channel as ChannelConfig, ChannelOptions};
use std::collections::HashMap;
use std::sync::Arc;

/// Why a channel name is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Namespace not configured (client error 102).
    #[error("unknown channel")]
    UnknownNamespace,
    /// Too long or empty (client error 107).
    #[error("bad channel name")]
    BadName,
}

/// Resolved channel rules for fast lookups.
#[derive(Debug, Clone)]
pub struct ChannelRules {
    cfg: ChannelConfig,
    default: Arc<ChannelOptions>,
    namespaces: HashMap<String, Arc<ChannelOptions>>,
}

impl ChannelRules {
    /// Builds the lookup tables from config.
    pub fn new(cfg: &ChannelConfig) -> Self {
        ChannelRules {
            cfg: cfg.clone(),
            default: Arc::new(cfg.without_namespace.clone()),
            namespaces: cfg
                .namespaces
                .iter()
                .map(|n| (n.name.clone(), Arc::new(n.clone())))
                .collect(),
        }
    }

    /// The namespace name of a channel ("" when it has none).
    pub fn namespace_name<'a>(&self, channel: &'a str) -> &'a str {
        let stripped = channel
            .strip_prefix(self.cfg.private_prefix.as_str())
            .unwrap_or(channel);
        if self.cfg.namespace_boundary.is_empty() {
            return "";
        }
        match stripped.find(self.cfg.namespace_boundary.as_str()) {
            Some(i) => &stripped[..i],
            None => "",
        }
    }

    /// Options that apply to a channel.
    pub fn options(&self, channel: &str) -> Result<Arc<ChannelOptions>, ChannelError> {
        if channel.is_empty() || channel.len() > self.cfg.max_length {
            return Err(ChannelError::BadName);
        }
        let ns = self.namespace_name(channel);
        if ns.is_empty() {
            return Ok(self.default.clone());
        }
        self.namespaces
            .get(ns)
            .cloned()
            .ok_or(ChannelError::UnknownNamespace)
    }

    /// True for channels needing a subscription token.
    pub fn is_private(&self, channel: &str) -> bool {
        !self.cfg.private_prefix.is_empty() && channel.starts_with(self.cfg.private_prefix.as_str())
    }

    /// Users allowed in a user-limited channel (`dialog:#1,2`), None if not user-limited.
    pub fn limited_users<'a>(&self, channel: &'a str) -> Option<Vec<&'a str>> {
        if self.cfg.user_boundary.is_empty() {
            return None;
        }
        let idx = channel.rfind(self.cfg.user_boundary.as_str())?;
        let users = &channel[idx + self.cfg.user_boundary.len()..];
        Some(
            users
                .split(self.cfg.user_separator.as_str())
                .filter(|u| !u.is_empty())
                .collect(),
        )
    }

    /// True when `user` may subscribe to this user-limited channel.
    pub fn user_allowed(&self, channel: &str, user: &str) -> bool {
        !user.is_empty()
            && self
                .limited_users(channel)
                .is_some_and(|u| u.contains(&user))
    }

    /// The personal channel of a user.
    pub fn personal_channel(&self, namespace: &str, user: &str) -> String {
        if namespace.is_empty() {
            format!("{}{}", self.cfg.user_boundary, user)
        } else {
            format!(
                "{}{}{}{}",
                namespace, self.cfg.namespace_boundary, self.cfg.user_boundary, user
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn rules() -> ChannelRules {
        let cfg = Config::from_json_str(
            r#"{"channel": {"without_namespace": {"presence": true},
                "namespaces": [{"name": "chat", "history_size": 5, "history_ttl": "1s"}]}}"#,
        )
        .unwrap();
        ChannelRules::new(&cfg.channel)
    }

    #[test]
    fn namespaces_resolve() {
        let r = rules();
        assert!(r.options("news").unwrap().presence);
        assert_eq!(r.options("chat:1").unwrap().history_size, 5);
        assert_eq!(r.options("$chat:1").unwrap().history_size, 5);
        assert_eq!(
            r.options("nope:1").unwrap_err(),
            ChannelError::UnknownNamespace
        );
        assert_eq!(r.options("").unwrap_err(), ChannelError::BadName);
        assert_eq!(
            r.options(&"a".repeat(256)).unwrap_err(),
            ChannelError::BadName
        );
        assert!(r.is_private("$chat:1"));
        assert!(!r.is_private("chat:1"));
    }

    #[test]
    fn user_limited() {
        let r = rules();
        assert_eq!(r.limited_users("dialog:#1,2"), Some(vec!["1", "2"]));
        assert!(r.user_allowed("dialog:#1,2", "2"));
        assert!(!r.user_allowed("dialog:#1,2", "3"));
        assert!(!r.user_allowed("dialog:#1,2", ""));
        assert!(r.limited_users("plain").is_none());
        assert_eq!(r.personal_channel("", "42"), "#42");
        assert_eq!(r.personal_channel("user", "42"), "user:#42");
    }
}
