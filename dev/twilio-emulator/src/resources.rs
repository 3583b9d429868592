//! JSON renderings of resources, in Twilio's snake_case shapes with absolute URLs on the
//! emulator's base URL.

use serde_json::{json, Value};

use crate::{
    calls::{Call, Env, Recording},
    clock::{iso8601, rfc2822},
    conversations_webhooks::{ConversationsWebhooks, WebhookConfiguration},
    messaging::Message,
    numbers::PhoneNumber,
    state::{Binding, Conversation, Participant, Timers},
    webhooks::HttpMethod,
};

/// Fixed facts every rendering needs.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    pub base_url: String,
    pub account_sid: String,
    pub chat_service_sid: String,
}

impl Ctx {
    fn conversation_url(&self, sid: &str) -> String {
        format!("{}/v1/Conversations/{sid}", self.base_url)
    }
}

fn timers_json(timers: &Timers) -> Value {
    let mut map = serde_json::Map::new();
    if let Some(t) = timers.inactive_at {
        map.insert("date_inactive".into(), iso8601(t).into());
    }
    if let Some(t) = timers.closed_at {
        map.insert("date_closed".into(), iso8601(t).into());
    }
    Value::Object(map)
}

pub(crate) fn conversation(ctx: &Ctx, c: &Conversation) -> Value {
    let url = ctx.conversation_url(&c.sid);
    json!({
        "sid": c.sid,
        "account_sid": ctx.account_sid,
        "chat_service_sid": ctx.chat_service_sid,
        "messaging_service_sid": c.messaging_service_sid,
        "friendly_name": c.friendly_name,
        "unique_name": c.unique_name,
        "attributes": c.attributes,
        "state": c.state.as_str(),
        "date_created": iso8601(c.created),
        "date_updated": iso8601(c.updated),
        "timers": timers_json(&c.timers),
        "bindings": null,
        "url": url,
        "links": {
            "participants": format!("{url}/Participants"),
            "messages": format!("{url}/Messages"),
            "webhooks": format!("{url}/Webhooks"),
        },
    })
}

fn binding_json(b: &Binding) -> Value {
    json!({
        "type": b.channel.as_str(),
        "address": b.address,
        "proxy_address": b.proxy_address,
    })
}

pub(crate) fn participant(ctx: &Ctx, conversation_sid: &str, p: &Participant) -> Value {
    json!({
        "sid": p.sid,
        "account_sid": ctx.account_sid,
        "conversation_sid": conversation_sid,
        "identity": p.identity,
        "attributes": p.attributes,
        "messaging_binding": p.binding.as_ref().map(binding_json),
        "role_sid": null,
        "date_created": iso8601(p.created),
        "date_updated": iso8601(p.updated),
        "url": format!("{}/Participants/{}", ctx.conversation_url(conversation_sid), p.sid),
        "last_read_message_index": null,
        "last_read_timestamp": null,
    })
}

/// A conversation message. The emulator does not track delivery receipts: a message
/// counts as sent to, and delivered to, every non-chat participant it went to.
pub(crate) fn message(ctx: &Ctx, conversation_sid: &str, m: &Message) -> Value {
    let url = format!(
        "{}/Messages/{}",
        ctx.conversation_url(conversation_sid),
        m.sid
    );
    let all = if m.recipients > 0 { "all" } else { "none" };
    json!({
        "account_sid": ctx.account_sid,
        "conversation_sid": conversation_sid,
        "sid": m.sid,
        "index": m.index,
        "author": m.author,
        "body": m.body,
        "media": null,
        "attributes": m.attributes,
        "participant_sid": m.participant_sid,
        "date_created": iso8601(m.created),
        "date_updated": iso8601(m.created),
        "url": url,
        "delivery": {
            "total": m.recipients,
            "sent": all,
            "delivered": all,
            "read": "none",
            "failed": "none",
            "undelivered": "none",
        },
        "links": {
            "delivery_receipts": format!("{url}/Receipts"),
            "channel_metadata": format!("{url}/ChannelMetadata"),
        },
        "content_sid": null,
    })
}

/// One item of `GET /v1/ParticipantConversations`.
pub(crate) fn participant_conversation(ctx: &Ctx, c: &Conversation, p: &Participant) -> Value {
    let conversation_url = ctx.conversation_url(&c.sid);
    let binding = p.binding.as_ref().map(|b| {
        json!({
            "type": b.channel.as_str(),
            "address": b.address,
            "proxy_address": b.proxy_address,
            "name": null,
            "level": null,
            "projected_address": null,
        })
    });
    json!({
        "account_sid": ctx.account_sid,
        "chat_service_sid": ctx.chat_service_sid,
        "participant_sid": p.sid,
        "participant_user_sid": null,
        "participant_identity": p.identity,
        "participant_messaging_binding": binding,
        "conversation_sid": c.sid,
        "conversation_unique_name": c.unique_name,
        "conversation_friendly_name": c.friendly_name,
        "conversation_attributes": c.attributes,
        "conversation_date_created": iso8601(c.created),
        "conversation_date_updated": iso8601(c.updated),
        "conversation_created_by": "system",
        "conversation_state": c.state.as_str(),
        "conversation_timers": timers_json(&c.timers),
        "links": {
            "participant": format!("{conversation_url}/Participants/{}", p.sid),
            "conversation": conversation_url,
        },
    })
}

pub(crate) fn call(ctx: &Ctx, c: &Call) -> Value {
    let uri = format!("/2010-04-01/Accounts/{}/Calls/{}", ctx.account_sid, c.sid);
    let date = rfc2822(c.created);
    json!({
        "sid": c.sid,
        "account_sid": ctx.account_sid,
        "to": c.to,
        "to_formatted": c.to,
        "from": c.from,
        "from_formatted": c.from,
        "status": "queued",
        "direction": "outbound-api",
        "api_version": "2010-04-01",
        "date_created": date,
        "date_updated": date,
        "start_time": null,
        "end_time": null,
        "duration": null,
        "price": null,
        "price_unit": "USD",
        "parent_call_sid": null,
        "phone_number_sid": null,
        "answered_by": null,
        "caller_name": null,
        "forwarded_from": null,
        "group_sid": null,
        "queue_time": "0",
        "trunk_sid": null,
        "uri": format!("{uri}.json"),
        "subresource_uris": {
            "notifications": format!("{uri}/Notifications.json"),
            "recordings": format!("{uri}/Recordings.json"),
        },
    })
}

/// `GET /v1/Configuration`: the account's Conversations defaults (the
/// emulator has one Conversations service and one Messaging Service).
pub(crate) fn configuration(ctx: &Ctx, messaging_service_sid: &str) -> Value {
    let url = format!("{}/v1/Configuration", ctx.base_url);
    json!({
        "account_sid": ctx.account_sid,
        "default_chat_service_sid": ctx.chat_service_sid,
        "default_messaging_service_sid": messaging_service_sid,
        "default_inactive_timer": null,
        "default_closed_timer": null,
        "url": url,
        "links": {
            "service": format!("{}/v1/Services/{}", ctx.base_url, ctx.chat_service_sid),
            "webhooks": format!("{url}/Webhooks"),
        },
    })
}

/// `GET`/`POST /v1/Configuration/Webhooks`. An unset method is reported as the POST the
/// webhooks then use (the description does not allow null there).
pub(crate) fn configuration_webhook(ctx: &Ctx, hooks: &ConversationsWebhooks) -> Value {
    let account = &hooks.account;
    json!({
        "account_sid": ctx.account_sid,
        "method": account.method.unwrap_or(HttpMethod::Post).as_str(),
        "filters": account.filters,
        "pre_webhook_url": account.pre_webhook_url,
        "post_webhook_url": account.post_webhook_url,
        "target": hooks.target.as_str(),
        "url": format!("{}/v1/Configuration/Webhooks", ctx.base_url),
    })
}

/// `GET`/`POST /v1/Services/{ChatServiceSid}/Configuration/Webhooks`.
pub(crate) fn service_webhook_configuration(ctx: &Ctx, config: &WebhookConfiguration) -> Value {
    json!({
        "account_sid": ctx.account_sid,
        "chat_service_sid": ctx.chat_service_sid,
        "pre_webhook_url": config.pre_webhook_url,
        "post_webhook_url": config.post_webhook_url,
        "filters": config.filters,
        "method": config.method.unwrap_or(HttpMethod::Post).as_str(),
        "url": format!(
            "{}/v1/Services/{}/Configuration/Webhooks",
            ctx.base_url, ctx.chat_service_sid
        ),
    })
}

/// An IncomingPhoneNumber (API 2010). Unset URLs and sids are null.
pub(crate) fn incoming_phone_number(ctx: &Ctx, n: &PhoneNumber) -> Value {
    json!({
        "account_sid": ctx.account_sid,
        "address_sid": null,
        "address_requirements": "none",
        "api_version": "2010-04-01",
        "beta": false,
        "capabilities": {"voice": true, "sms": true, "mms": true, "fax": false},
        "date_created": rfc2822(n.created),
        "date_updated": rfc2822(n.updated),
        "friendly_name": n.friendly_name,
        "identity_sid": null,
        "phone_number": n.phone_number,
        "origin": "twilio",
        "sid": n.sid,
        "sms_application_sid": n.sms_application_sid,
        "sms_fallback_method": n.sms_fallback_method.as_str(),
        "sms_fallback_url": n.sms_fallback_url,
        "sms_method": n.sms_method.as_str(),
        "sms_url": n.sms_url,
        "status_callback": n.status_callback,
        "status_callback_method": n.status_callback_method.as_str(),
        "trunk_sid": n.trunk_sid,
        "uri": format!(
            "/2010-04-01/Accounts/{}/IncomingPhoneNumbers/{}.json",
            ctx.account_sid, n.sid
        ),
        "voice_receive_mode": "voice",
        "voice_application_sid": n.voice_application_sid,
        "voice_caller_id_lookup": n.voice_caller_id_lookup,
        "voice_fallback_method": n.voice_fallback_method.as_str(),
        "voice_fallback_url": n.voice_fallback_url,
        "voice_method": n.voice_method.as_str(),
        "voice_url": n.voice_url,
        "emergency_status": "Inactive",
        "emergency_address_sid": null,
        "emergency_address_status": "unregistered",
        "bundle_sid": null,
        "status": "in-use",
    })
}

/// A Recording (API 2010). Its media is served nowhere; `media_url` names where it would be.
pub(crate) fn recording(env: &Env<'_>, r: &Recording) -> Value {
    let uri = format!(
        "/2010-04-01/Accounts/{}/Recordings/{}",
        env.account_sid, r.sid
    );
    let started = rfc2822(r.started);
    json!({
        "account_sid": env.account_sid,
        "api_version": "2010-04-01",
        "call_sid": r.call_sid,
        "conference_sid": null,
        "date_created": started,
        "date_updated": started,
        "start_time": started,
        "duration": r.duration.to_string(),
        "sid": r.sid,
        "price": null,
        "price_unit": "USD",
        "status": "completed",
        "channels": r.channels,
        "source": r.source,
        "error_code": null,
        "uri": format!("{uri}.json"),
        "encryption_details": null,
        "subresource_uris": {
            "add_on_results": format!("{uri}/AddOnResults.json"),
            "transcriptions": format!("{uri}/Transcriptions.json"),
        },
        "media_url": env.recording_url(&r.sid),
    })
}
