//! A message the operator's backend sends into a session
//! (`POST /sessions/{sid}/messages`): what it may hold, and who gets it.
//! Pure: the handler parses, the session service sends.
//!
//! Each recipient gets their own Programmable Messaging message from their
//! own proxy (not one Conversations message): Conversations takes media only
//! as uploaded `MediaSid`s, and a WhatsApp template must go to WhatsApp
//! participants only, which a per-recipient send can check before anything
//! is sent.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::address::Channel;
use super::session::InvalidField;
use super::sid::{Sid, SidKind};

/// Twilio's limit on `Body`.
pub const MAX_BODY_CHARS: usize = 1_600;
/// Twilio's limit on `MediaUrl`s per message.
pub const MAX_MEDIA: usize = 10;

/// The request body as clients send it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MessageJson {
    pub to: Option<String>,
    pub body: Option<String>,
    pub media_url: Option<Vec<String>>,
    pub content_sid: Option<String>,
    pub content_variables: Option<Map<String, Value>>,
}

/// A checked message: safe to send to Twilio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMessage {
    /// A participant sid; `None` is everyone.
    pub to: Option<String>,
    pub body: Option<String>,
    pub media_urls: Vec<String>,
    pub template: Option<Template>,
}

/// A Content template and its variables (JSON object text, as Twilio takes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub content_sid: String,
    pub variables: Option<String>,
}

impl TryFrom<MessageJson> for OutboundMessage {
    type Error = InvalidField;

    fn try_from(json: MessageJson) -> Result<Self, InvalidField> {
        if let Some(to) = &json.to {
            if Sid::parse(to, SidKind::Participant).is_none() {
                return Err(InvalidField::new(
                    "to",
                    "must be a participant sid: MB followed by 32 hex digits",
                ));
            }
        }
        if let Some(body) = &json.body {
            let chars = body.chars().count();
            if chars == 0 || chars > MAX_BODY_CHARS {
                return Err(InvalidField::new(
                    "body",
                    format!("must be 1 to {MAX_BODY_CHARS} characters"),
                ));
            }
        }
        let media_urls = json.media_url.unwrap_or_default();
        if media_urls.len() > MAX_MEDIA {
            return Err(InvalidField::new(
                "mediaUrl",
                format!("may list at most {MAX_MEDIA} URLs"),
            ));
        }
        if !media_urls.iter().all(|u| is_https(u)) {
            return Err(InvalidField::new(
                "mediaUrl",
                "must list absolute https URLs",
            ));
        }
        let template = match (json.content_sid, json.content_variables) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(InvalidField::new("contentVariables", "needs a contentSid"))
            }
            (Some(sid), variables) => {
                if !is_content_sid(&sid) {
                    return Err(InvalidField::new(
                        "contentSid",
                        "must be HX followed by 32 hex digits",
                    ));
                }
                let variables = match variables {
                    None => None,
                    Some(map) if map.values().all(Value::is_string) => {
                        Some(Value::Object(map).to_string())
                    }
                    Some(_) => {
                        return Err(InvalidField::new(
                            "contentVariables",
                            "must be an object of strings",
                        ))
                    }
                };
                Some(Template {
                    content_sid: sid,
                    variables,
                })
            }
        };
        if json.body.is_none() && media_urls.is_empty() && template.is_none() {
            return Err(InvalidField::new(
                "body",
                "is required unless mediaUrl or contentSid is given",
            ));
        }
        Ok(OutboundMessage {
            to: json.to,
            body: json.body,
            media_urls,
            template,
        })
    }
}

/// A participant a message can go to: their sid, address and proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    pub participant: String,
    pub address: String,
    pub proxy: String,
    pub channel: Channel,
}

/// Why a message cannot go to the recipients asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unaddressable {
    /// `to` is not a participant of this session.
    NotAParticipant,
    /// Nobody in the session can receive texts (no participants).
    Nobody,
    /// A template goes to WhatsApp participants only; this one is not.
    TemplateNeedsWhatsapp { participant: String },
}

impl OutboundMessage {
    /// Who gets it, of the session's `participants`: `to`, or all of them.
    pub fn recipients(&self, participants: &[Recipient]) -> Result<Vec<Recipient>, Unaddressable> {
        let chosen: Vec<Recipient> = match &self.to {
            Some(to) => vec![participants
                .iter()
                .find(|p| &p.participant == to)
                .cloned()
                .ok_or(Unaddressable::NotAParticipant)?],
            None => participants.to_vec(),
        };
        if chosen.is_empty() {
            return Err(Unaddressable::Nobody);
        }
        if self.template.is_some() {
            if let Some(p) = chosen.iter().find(|p| p.channel != Channel::Whatsapp) {
                return Err(Unaddressable::TemplateNeedsWhatsapp {
                    participant: p.participant.clone(),
                });
            }
        }
        Ok(chosen)
    }
}

fn is_https(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| u.scheme() == "https" && u.has_host())
}

fn is_content_sid(text: &str) -> bool {
    text.len() == 34 && text.starts_with("HX") && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MB1: &str = "MB0123456789abcdef0123456789abcdef";
    const MB2: &str = "MBfedcba9876543210fedcba9876543210";
    const HX: &str = "HX0123456789abcdef0123456789abcdef";

    fn parse(value: Value) -> Result<OutboundMessage, InvalidField> {
        serde_json::from_value::<MessageJson>(value)
            .unwrap()
            .try_into()
    }

    fn field(value: Value) -> String {
        parse(value).unwrap_err().field
    }

    #[test]
    fn refuses_what_twilio_would_refuse() {
        assert_eq!(field(json!({})), "body");
        assert_eq!(field(json!({"body": ""})), "body");
        assert_eq!(field(json!({"body": "x".repeat(1601)})), "body");
        assert!(
            parse(json!({"body": "é".repeat(1600)})).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(field(json!({"body": "x", "to": "CH0123"})), "to");
        let eleven = vec!["https://example.com/a.png"; 11];
        assert_eq!(field(json!({"mediaUrl": eleven})), "mediaUrl");
        assert_eq!(
            field(json!({"mediaUrl": ["http://example.com/a.png"]})),
            "mediaUrl"
        );
        assert_eq!(field(json!({"mediaUrl": ["not a url"]})), "mediaUrl");
        assert_eq!(field(json!({"contentSid": "HX123"})), "contentSid");
        assert_eq!(
            field(json!({"body": "x", "contentVariables": {"1": "a"}})),
            "contentVariables"
        );
        assert_eq!(
            field(json!({"contentSid": HX, "contentVariables": {"1": 2}})),
            "contentVariables"
        );
    }

    #[test]
    fn accepts_text_media_and_templates() {
        let template = parse(json!({"contentSid": HX, "contentVariables": {"1": "Ada"}})).unwrap();
        assert_eq!(
            template.template,
            Some(Template {
                content_sid: HX.into(),
                variables: Some(r#"{"1":"Ada"}"#.into())
            })
        );
        let media = parse(json!({"to": MB1, "mediaUrl": ["https://example.com/a.png"]})).unwrap();
        assert_eq!(media.to.as_deref(), Some(MB1));
        assert_eq!(media.media_urls.len(), 1);
    }

    fn recipient(sid: &str, channel: Channel) -> Recipient {
        Recipient {
            participant: sid.into(),
            address: "+14155550101".into(),
            proxy: "+15005550001".into(),
            channel,
        }
    }

    #[test]
    fn recipients_are_the_one_asked_for_or_everyone() {
        let all = [
            recipient(MB1, Channel::Sms),
            recipient(MB2, Channel::Whatsapp),
        ];
        let one = parse(json!({"to": MB2, "body": "x"})).unwrap();
        assert_eq!(one.recipients(&all).unwrap(), vec![all[1].clone()]);
        let everyone = parse(json!({"body": "x"})).unwrap();
        assert_eq!(everyone.recipients(&all).unwrap().len(), 2);
        assert_eq!(everyone.recipients(&[]), Err(Unaddressable::Nobody));
        let stranger =
            parse(json!({"to": "MB".to_owned() + &"0".repeat(32), "body": "x"})).unwrap();
        assert_eq!(
            stranger.recipients(&all),
            Err(Unaddressable::NotAParticipant)
        );
    }

    #[test]
    fn templates_go_to_whatsapp_participants_only() {
        let all = [
            recipient(MB1, Channel::Sms),
            recipient(MB2, Channel::Whatsapp),
        ];
        let to_whatsapp = parse(json!({"to": MB2, "contentSid": HX})).unwrap();
        assert!(to_whatsapp.recipients(&all).is_ok());
        let to_everyone = parse(json!({"contentSid": HX})).unwrap();
        assert_eq!(
            to_everyone.recipients(&all),
            Err(Unaddressable::TemplateNeedsWhatsapp {
                participant: MB1.into()
            })
        );
    }
}
