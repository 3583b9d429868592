//! Conversations webhook configuration: the account-wide one (`/v1/Configuration/Webhooks`)
//! and the chat service's own (`/v1/Services/{ChatServiceSid}/Configuration/Webhooks`),
//! and which URL a pre- or post-event goes to under them.
//!
//! Twilio's rule: where a service has its own configuration, only the service's fire. The
//! emulator counts a service configuration as its own once it holds a pre- or post-event
//! URL. An account-wide `Target=flex` routes events to Flex, so no URL gets them.

use serde::Serialize;

use crate::{
    errors::{codes, TwilioError},
    webhooks::HttpMethod,
};

/// Every filter name Twilio documents for either configuration (the union of both lists
/// in its OpenAPI description). Anything else is refused, so a misspelt filter fails
/// loudly here rather than silently never firing.
pub(crate) const KNOWN_FILTERS: [&str; 23] = [
    "onMessageAdd",
    "onMessageAdded",
    "onMessageUpdate",
    "onMessageUpdated",
    "onMessageRemove",
    "onMessageRemoved",
    "onConversationAdd",
    "onConversationAdded",
    "onConversationUpdate",
    "onConversationUpdated",
    "onConversationRemove",
    "onConversationRemoved",
    "onConversationStateUpdated",
    "onParticipantAdd",
    "onParticipantAdded",
    "onParticipantUpdate",
    "onParticipantUpdated",
    "onParticipantRemove",
    "onParticipantRemoved",
    "onDeliveryUpdated",
    "onUserAdded",
    "onUserUpdate",
    "onUserUpdated",
];

/// Where the account-wide configuration routes events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum WebhookTarget {
    #[default]
    Webhook,
    Flex,
}

impl WebhookTarget {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Webhook => "webhook",
            Self::Flex => "flex",
        }
    }
}

/// One configuration (account-wide or the service's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct WebhookConfiguration {
    /// `None` until set; webhooks then go as POST.
    pub method: Option<HttpMethod>,
    /// `None` until set.
    pub filters: Option<Vec<String>>,
    pub pre_webhook_url: Option<String>,
    pub post_webhook_url: Option<String>,
}

impl WebhookConfiguration {
    fn has_urls(&self) -> bool {
        self.pre_webhook_url.is_some() || self.post_webhook_url.is_some()
    }

    fn filters_include(&self, event: &str) -> bool {
        self.filters
            .as_ref()
            .is_some_and(|f| f.iter().any(|name| name == event))
    }

    fn apply(&mut self, update: &WebhookUpdate) {
        if let Some(method) = update.method {
            self.method = Some(method);
        }
        if let Some(filters) = &update.filters {
            self.filters = Some(filters.clone());
        }
        if let Some(url) = &update.pre_webhook_url {
            self.pre_webhook_url = url.clone();
        }
        if let Some(url) = &update.post_webhook_url {
            self.post_webhook_url = url.clone();
        }
    }
}

/// The parameters of an update, validated. `Some(None)` for a URL clears it (an empty
/// value in the form).
#[derive(Debug, Clone, Default)]
pub(crate) struct WebhookUpdate {
    pub method: Option<HttpMethod>,
    pub filters: Option<Vec<String>>,
    pub pre_webhook_url: Option<Option<String>>,
    pub post_webhook_url: Option<Option<String>>,
    pub target: Option<WebhookTarget>,
}

impl WebhookUpdate {
    /// Reads `Method`, repeated `Filters`, `PreWebhookUrl`, `PostWebhookUrl` and, where
    /// `with_target`, `Target` from a form.
    pub(crate) fn from_form(
        form: &[(String, String)],
        with_target: bool,
    ) -> Result<Self, TwilioError> {
        let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let invalid = |message: String| TwilioError::bad_request(codes::INVALID_PARAMETER, message);
        let method = get("Method")
            .map(|m| {
                HttpMethod::parse(m)
                    .ok_or_else(|| invalid(format!("Method must be GET or POST, got {m}")))
            })
            .transpose()?;
        let given: Vec<&String> = form
            .iter()
            .filter(|(k, _)| k == "Filters")
            .map(|(_, v)| v)
            .collect();
        let filters = if given.is_empty() {
            None
        } else {
            // An empty value clears the list.
            let mut filters = Vec::new();
            for name in given.into_iter().filter(|v| !v.is_empty()) {
                if !KNOWN_FILTERS.contains(&name.as_str()) {
                    return Err(invalid(format!("Unknown webhook filter {name}")));
                }
                if !filters.contains(name) {
                    filters.push(name.clone());
                }
            }
            Some(filters)
        };
        let url = |name: &str| -> Result<Option<Option<String>>, TwilioError> {
            match get(name) {
                None => Ok(None),
                Some(v) if v.is_empty() => Ok(Some(None)),
                Some(v) if is_absolute_http_url(v) => Ok(Some(Some(v.clone()))),
                Some(v) => Err(invalid(format!(
                    "{name} must be an absolute http(s) URL, got {v}"
                ))),
            }
        };
        let target = match get("Target") {
            Some(_) if !with_target => None,
            Some(t) if t == "webhook" => Some(WebhookTarget::Webhook),
            Some(t) if t == "flex" => Some(WebhookTarget::Flex),
            Some(t) => return Err(invalid(format!("Target must be webhook or flex, got {t}"))),
            None => None,
        };
        Ok(Self {
            method,
            filters,
            pre_webhook_url: url("PreWebhookUrl")?,
            post_webhook_url: url("PostWebhookUrl")?,
            target,
        })
    }
}

/// `http://` or `https://` with a host.
pub(crate) fn is_absolute_http_url(text: &str) -> bool {
    url::Url::parse(text)
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// Both configurations, as Twilio holds them for the account and its one chat service.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConversationsWebhooks {
    pub account: WebhookConfiguration,
    pub target: WebhookTarget,
    pub service: WebhookConfiguration,
}

/// Where one event goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EventTarget {
    pub method: HttpMethod,
    pub url: String,
}

impl ConversationsWebhooks {
    pub(crate) fn update_account(&mut self, update: &WebhookUpdate) {
        self.account.apply(update);
        if let Some(target) = update.target {
            self.target = target;
        }
    }

    pub(crate) fn update_service(&mut self, update: &WebhookUpdate) {
        self.service.apply(update);
    }

    /// The configuration that fires: the service's own where it has one, else the
    /// account's (unless that routes to Flex).
    fn effective(&self) -> Option<&WebhookConfiguration> {
        if self.service.has_urls() {
            Some(&self.service)
        } else if self.target == WebhookTarget::Flex {
            None
        } else {
            Some(&self.account)
        }
    }

    fn target(
        &self,
        event: &str,
        url: fn(&WebhookConfiguration) -> &Option<String>,
    ) -> Option<EventTarget> {
        let config = self.effective()?;
        let url = url(config).clone()?;
        config.filters_include(event).then(|| EventTarget {
            method: config.method.unwrap_or(HttpMethod::Post),
            url,
        })
    }

    /// Where a pre-event (`onMessageAdd`, ...) goes, if anywhere.
    pub(crate) fn pre_event(&self, event: &str) -> Option<EventTarget> {
        self.target(event, |c| &c.pre_webhook_url)
    }

    /// Where a post-event (`onMessageAdded`, `onConversationStateUpdated`, ...) goes.
    pub(crate) fn post_event(&self, event: &str) -> Option<EventTarget> {
        self.target(event, |c| &c.post_webhook_url)
    }
}

/// One configuration as tests see it (`None`: never set).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WebhookConfigurationSnapshot {
    pub method: Option<HttpMethod>,
    pub filters: Option<Vec<String>>,
    pub pre_webhook_url: Option<String>,
    pub post_webhook_url: Option<String>,
}

impl From<&WebhookConfiguration> for WebhookConfigurationSnapshot {
    fn from(c: &WebhookConfiguration) -> Self {
        Self {
            method: c.method,
            filters: c.filters.clone(),
            pre_webhook_url: c.pre_webhook_url.clone(),
            post_webhook_url: c.post_webhook_url.clone(),
        }
    }
}

/// Both Conversations webhook configurations as tests see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationsWebhooksSnapshot {
    /// The account's (`/v1/Configuration/Webhooks`).
    pub account: WebhookConfigurationSnapshot,
    /// The account's `Target`: `webhook` or `flex`.
    pub target: &'static str,
    /// The chat service's own (`/v1/Services/{ChatServiceSid}/Configuration/Webhooks`).
    pub service: WebhookConfigurationSnapshot,
}

impl From<&ConversationsWebhooks> for ConversationsWebhooksSnapshot {
    fn from(hooks: &ConversationsWebhooks) -> Self {
        Self {
            account: (&hooks.account).into(),
            target: hooks.target.as_str(),
            service: (&hooks.service).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn update(pairs: &[(&str, &str)], with_target: bool) -> WebhookUpdate {
        WebhookUpdate::from_form(&form(pairs), with_target).unwrap()
    }

    #[test]
    fn filters_decide_and_the_service_wins_over_the_account() {
        let mut hooks = ConversationsWebhooks::default();
        hooks.update_account(&update(
            &[
                ("PostWebhookUrl", "https://a.example/post"),
                ("PreWebhookUrl", "https://a.example/pre"),
                ("Filters", "onConversationStateUpdated"),
                ("Filters", "onMessageAdd"),
            ],
            true,
        ));
        assert_eq!(
            hooks.post_event("onConversationStateUpdated"),
            Some(EventTarget {
                method: HttpMethod::Post,
                url: "https://a.example/post".into()
            })
        );
        assert_eq!(hooks.post_event("onMessageAdded"), None);
        assert_eq!(
            hooks.pre_event("onMessageAdd").map(|t| t.url),
            Some("https://a.example/pre".into())
        );

        // A service configuration without URLs is not the service's own yet.
        hooks.update_service(&update(&[("Filters", "onMessageAdded")], false));
        assert!(hooks.post_event("onConversationStateUpdated").is_some());

        hooks.update_service(&update(
            &[
                ("PostWebhookUrl", "https://s.example/post"),
                ("Method", "GET"),
            ],
            false,
        ));
        assert_eq!(hooks.post_event("onConversationStateUpdated"), None);
        assert_eq!(
            hooks.post_event("onMessageAdded"),
            Some(EventTarget {
                method: HttpMethod::Get,
                url: "https://s.example/post".into()
            })
        );
        // Only the service's fire: it has no pre-event URL, so no pre-event at all.
        assert_eq!(hooks.pre_event("onMessageAdd"), None);

        // Clearing the service's URL hands events back to the account.
        hooks.update_service(&update(&[("PostWebhookUrl", "")], false));
        assert!(hooks.pre_event("onMessageAdd").is_some());
    }

    #[test]
    fn flex_target_sends_nothing_to_urls() {
        let mut hooks = ConversationsWebhooks::default();
        hooks.update_account(&update(
            &[
                ("PostWebhookUrl", "https://a.example/post"),
                ("Filters", "onMessageAdded"),
                ("Target", "flex"),
            ],
            true,
        ));
        assert_eq!(hooks.post_event("onMessageAdded"), None);
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in [
            [("Method", "PUT")],
            [("Filters", "onMessageAdded ")],
            [("PostWebhookUrl", "/relative")],
            [("PreWebhookUrl", "ftp://x.example/")],
            [("Target", "studio")],
        ] {
            let err = WebhookUpdate::from_form(&form(&bad), true).unwrap_err();
            assert_eq!(
                (err.status, err.code),
                (400, codes::INVALID_PARAMETER),
                "{bad:?}"
            );
        }
        // Filters repeat; duplicates collapse; an empty value clears.
        let u = update(
            &[("Filters", "onMessageAdd"), ("Filters", "onMessageAdd")],
            true,
        );
        assert_eq!(u.filters, Some(vec!["onMessageAdd".to_owned()]));
        assert_eq!(update(&[("Filters", "")], true).filters, Some(vec![]));
    }
}
