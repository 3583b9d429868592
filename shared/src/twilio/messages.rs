//! Programmable Messaging (API 2010-04-01): a message from one proxy to one
//! participant, for the backend's messages into a session.

use serde::Deserialize;

use super::client::{Idempotency, Twilio};
use super::error::TwilioError;
use crate::domain::outbound_message::OutboundMessage;

/// What Twilio answers a create with, as much as we keep.
#[derive(Debug, Clone, Deserialize)]
pub struct SentMessage {
    pub sid: String,
    pub status: String,
}

impl Twilio<'_> {
    /// Sends `message` from `from` (the participant's proxy, `whatsapp:`
    /// prefixed for WhatsApp) to `to`. Never repeated after a lost answer:
    /// a second attempt would text them twice.
    pub async fn send_message(
        &self,
        from: &str,
        to: &str,
        message: &OutboundMessage,
    ) -> Result<SentMessage, TwilioError> {
        let url = self.api_url(&format!(
            "/2010-04-01/Accounts/{}/Messages.json",
            self.account_sid()
        ));
        let mut form: Vec<(&str, &str)> = vec![("To", to), ("From", from)];
        if let Some(body) = &message.body {
            form.push(("Body", body));
        }
        form.extend(message.media_urls.iter().map(|u| ("MediaUrl", u.as_str())));
        if let Some(template) = &message.template {
            form.push(("ContentSid", &template.content_sid));
            if let Some(variables) = &template.variables {
                form.push(("ContentVariables", variables));
            }
        }
        self.post(&url, &form, Idempotency::Unsafe).await
    }
}
