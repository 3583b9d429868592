//! The account's Conversations webhook configuration
//! (`/v1/Configuration/Webhooks`): where Twilio sends pre- and post-events of
//! conversations whose service has no configuration of its own. One per
//! account, shared by every app on it.

use serde::Deserialize;

use super::client::{empty_as_none, Idempotency, Twilio};
use super::error::TwilioError;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WebhookConfiguration {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub method: Option<String>,
    /// Null until set.
    #[serde(default, deserialize_with = "null_as_empty_list")]
    pub filters: Vec<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub pre_webhook_url: Option<String>,
    #[serde(default, deserialize_with = "empty_as_none")]
    pub post_webhook_url: Option<String>,
    /// `webhook`, or `flex` (events go to Flex, not to the URLs).
    #[serde(default, deserialize_with = "empty_as_none")]
    pub target: Option<String>,
}

/// The account's Conversations defaults (`/v1/Configuration`): the service
/// new conversations go into.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ConversationsDefaults {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub default_chat_service_sid: Option<String>,
}

/// A Conversations Address Configuration: with auto-creation enabled, an
/// unmatched text to `address` opens a new conversation instead of reaching
/// the number's own messaging webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AddressConfiguration {
    pub sid: String,
    /// `whatsapp:`-prefixed for WhatsApp.
    pub address: String,
    #[serde(default)]
    pub auto_creation: AutoCreation,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct AutoCreation {
    #[serde(default)]
    pub enabled: bool,
}

#[derive(Debug, Deserialize)]
struct AddressConfigurationsPage {
    address_configurations: Vec<AddressConfiguration>,
    meta: AddressPageMeta,
}

#[derive(Debug, Deserialize)]
struct AddressPageMeta {
    next_page_url: Option<String>,
}

fn null_as_empty_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// An update, by Twilio's names; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookConfigurationUpdate<'a> {
    pub method: Option<&'a str>,
    /// Replaces the whole list (sent as repeated `Filters`).
    pub filters: Option<Vec<&'a str>>,
    /// An empty string clears the URL.
    pub pre_webhook_url: Option<&'a str>,
    pub post_webhook_url: Option<&'a str>,
    pub target: Option<&'a str>,
}

impl<'a> WebhookConfigurationUpdate<'a> {
    pub fn form(&self) -> Vec<(&'static str, &'a str)> {
        let mut form = Vec::new();
        if let Some(method) = self.method {
            form.push(("Method", method));
        }
        for filter in self.filters.iter().flatten() {
            form.push(("Filters", *filter));
        }
        for (name, value) in [
            ("PreWebhookUrl", self.pre_webhook_url),
            ("PostWebhookUrl", self.post_webhook_url),
            ("Target", self.target),
        ] {
            if let Some(value) = value {
                form.push((name, value));
            }
        }
        form
    }
}

impl Twilio<'_> {
    pub async fn fetch_webhook_configuration(&self) -> Result<WebhookConfiguration, TwilioError> {
        self.get(&self.conversations_url("/v1/Configuration/Webhooks"))
            .await
    }

    pub async fn fetch_conversations_defaults(&self) -> Result<ConversationsDefaults, TwilioError> {
        self.get(&self.conversations_url("/v1/Configuration")).await
    }

    /// Every Address Configuration of the account.
    pub async fn address_configurations(&self) -> Result<Vec<AddressConfiguration>, TwilioError> {
        let base = self.conversations_url("");
        let mut url = Some(format!("{base}/v1/Configuration/Addresses?PageSize=50"));
        let mut all = Vec::new();
        while let Some(next) = url {
            let page: AddressConfigurationsPage = self.get(&next).await?;
            all.extend(page.address_configurations);
            url = self.next_page(&base, page.meta.next_page_url.as_deref());
        }
        Ok(all)
    }

    /// A Conversations service's own webhooks: where set, Twilio sends its
    /// conversations' events there, and not to the account's.
    pub async fn fetch_service_webhook_configuration(
        &self,
        service: &str,
    ) -> Result<WebhookConfiguration, TwilioError> {
        self.get(&self.conversations_url(&format!("/v1/Services/{service}/Configuration/Webhooks")))
            .await
    }

    /// Sets absolute values, so it is safe to repeat.
    pub async fn update_webhook_configuration(
        &self,
        update: &WebhookConfigurationUpdate<'_>,
    ) -> Result<WebhookConfiguration, TwilioError> {
        let url = self.conversations_url("/v1/Configuration/Webhooks");
        self.post(&url, &update.form(), Idempotency::Safe).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_unset_configuration() {
        let config: WebhookConfiguration = serde_json::from_str(
            r#"{"account_sid": "AC0123456789abcdef0123456789abcdef", "method": null,
                "filters": null, "pre_webhook_url": null, "post_webhook_url": "",
                "target": "webhook", "url": "https://conversations.twilio.com/v1/Configuration/Webhooks"}"#,
        )
        .unwrap();
        assert_eq!(
            config,
            WebhookConfiguration {
                target: Some("webhook".into()),
                ..Default::default()
            }
        );
    }

    #[test]
    fn filters_repeat_and_an_empty_url_clears() {
        let update = WebhookConfigurationUpdate {
            filters: Some(vec!["onConversationUpdated", "onConversationStateUpdated"]),
            pre_webhook_url: Some(""),
            ..Default::default()
        };
        assert_eq!(
            update.form(),
            [
                ("Filters", "onConversationUpdated"),
                ("Filters", "onConversationStateUpdated"),
                ("PreWebhookUrl", ""),
            ]
        );
    }
}
