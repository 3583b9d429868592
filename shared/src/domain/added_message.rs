//! A participant's message that Twilio relayed in a session, as its
//! `onMessageAdded` post-event tells it: who wrote it, on which channel,
//! with how much media. The body is never read.

use super::sid::{Sid, SidKind};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedMessage {
    pub message_sid: String,
    /// The author's participant sid (`MB…`), when a participant wrote it.
    pub participant: Option<String>,
    /// `sms`, `whatsapp`, or Twilio's `Source` lowercased (`api`, `sdk`).
    pub channel: String,
    pub media: usize,
}

impl AddedMessage {
    /// From the event's parameters (`get` by Twilio's name); `None` without
    /// a message sid.
    pub fn from_event<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<Self> {
        let message_sid = get("MessageSid").filter(|s| !s.is_empty())?.to_owned();
        let participant = get("ParticipantSid")
            .filter(|s| Sid::parse(s, SidKind::Participant).is_some())
            .map(str::to_owned);
        // `Media`: a JSON list of the message's media, when it has any.
        let media = get("Media")
            .and_then(|m| serde_json::from_str::<Vec<serde_json::Value>>(m).ok())
            .map_or(0, |list| list.len());
        Some(AddedMessage {
            message_sid,
            participant,
            channel: get("Source").unwrap_or("unknown").to_ascii_lowercase(),
            media,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn reads_who_how_and_how_much_but_not_the_body() {
        let pairs = [
            ("MessageSid", "IM0123456789abcdef0123456789abcdef"),
            ("ParticipantSid", "MB0123456789abcdef0123456789abcdef"),
            ("Source", "WHATSAPP"),
            ("Body", "call me on +14155550101"),
            ("Media", r#"[{"Sid":"ME1"},{"Sid":"ME2"}]"#),
        ];
        let added = AddedMessage::from_event(event(&pairs)).unwrap();
        assert_eq!(added.channel, "whatsapp");
        assert_eq!(added.media, 2);
        assert_eq!(
            added.participant.as_deref(),
            Some("MB0123456789abcdef0123456789abcdef")
        );
        assert!(!format!("{added:?}").contains("+1415"), "no body kept");
        assert_eq!(AddedMessage::from_event(event(&[("Source", "SMS")])), None);
        let bare =
            AddedMessage::from_event(event(&[("MessageSid", "IM1"), ("ParticipantSid", "x")]))
                .unwrap();
        assert_eq!((bare.participant, bare.media), (None, 0));
    }
}
