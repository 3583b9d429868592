//! Conversations Address Configurations (`/v1/Configuration/Addresses`): an
//! address (a number of the account) whose unmatched inbound texts
//! auto-create a conversation. While one with auto-creation enabled exists
//! for a number, a text to it that no conversation takes never reaches the
//! number's `SmsUrl` (Twilio makes a conversation of it instead; the
//! emulator records the text as dropped, never kinder than Twilio).

use serde_json::{json, Value};

use crate::{
    clock::iso8601,
    errors::{codes, TwilioError},
    params::Params,
    resources::Ctx,
    state::new_sid,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddressConfiguration {
    pub sid: String,
    /// `sms` or `whatsapp`.
    pub kind: String,
    pub address: String,
    pub friendly_name: Option<String>,
    pub auto_creation_enabled: bool,
    pub auto_creation_type: Option<String>,
    pub created: u64,
}

impl AddressConfiguration {
    /// `POST /v1/Configuration/Addresses`: `Type` and `Address` required.
    pub(crate) fn from_form(form: &[(String, String)], now: u64) -> Result<Self, TwilioError> {
        let params = Params(form);
        let required = |name: &str| {
            params.owned(name).filter(|v| !v.is_empty()).ok_or_else(|| {
                TwilioError::bad_request(
                    codes::INVALID_PARAMETER,
                    format!("Missing required parameter {name} in the post body"),
                )
            })
        };
        let kind = required("Type")?;
        if !matches!(
            kind.as_str(),
            "sms" | "whatsapp" | "messenger" | "gbm" | "email" | "rcs" | "apple" | "chat"
        ) {
            return Err(TwilioError::bad_request(
                codes::INVALID_PARAMETER,
                format!("Type must be sms or whatsapp (or another channel), got {kind}"),
            ));
        }
        Ok(AddressConfiguration {
            sid: new_sid("IG"),
            kind,
            address: required("Address")?,
            friendly_name: params.owned("FriendlyName"),
            auto_creation_enabled: params.get("AutoCreation.Enabled") == Some("true"),
            auto_creation_type: params.owned("AutoCreation.Type"),
            created: now,
        })
    }

    /// Whether it takes `number`'s unmatched texts (`whatsapp:` addresses for WhatsApp).
    pub(crate) fn auto_creates_for(&self, number: &str) -> bool {
        self.auto_creation_enabled && self.address == number
    }
}

/// The resource as Twilio answers it.
pub(crate) fn resource(ctx: &Ctx, a: &AddressConfiguration) -> Value {
    let created = iso8601(a.created);
    json!({
        "sid": a.sid,
        "account_sid": ctx.account_sid,
        "type": a.kind,
        "address": a.address,
        "friendly_name": a.friendly_name,
        "auto_creation": {
            "enabled": a.auto_creation_enabled,
            "type": a.auto_creation_type,
            "conversation_service_sid": ctx.chat_service_sid,
        },
        "date_created": created,
        "date_updated": created,
        "url": format!("{}/v1/Configuration/Addresses/{}", ctx.base_url, a.sid),
        "address_country": null,
    })
}
