//! Twilio's resource ids: two capital letters naming the kind of resource
//! and 32 hex digits (`CH0123…`), checked before they reach a URL or a log.

use std::fmt;

/// The kinds of resource masked-comms names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SidKind {
    Account,
    Conversation,
    Participant,
    Call,
    MessagingService,
    /// An inbound SMS or WhatsApp message.
    Message,
    /// An inbound MMS.
    MediaMessage,
    Recording,
    Conference,
}

impl SidKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SidKind::Account => "AC",
            SidKind::Conversation => "CH",
            SidKind::Participant => "MB",
            SidKind::Call => "CA",
            SidKind::MessagingService => "MG",
            SidKind::Message => "SM",
            SidKind::MediaMessage => "MM",
            SidKind::Recording => "RE",
            SidKind::Conference => "CF",
        }
    }
}

/// A sid of a known kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sid(String);

impl Sid {
    pub fn parse(text: &str, kind: SidKind) -> Option<Sid> {
        (text.starts_with(kind.prefix()) && is_sid_shaped(text)).then(|| Sid(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `text` has the shape of a sid of any kind (for logs, which keep
/// sids and drop anything else from a path).
pub fn is_sid_shaped(text: &str) -> bool {
    text.len() == 34
        && text[..2].bytes().all(|b| b.is_ascii_uppercase())
        && text[2..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sids_are_a_kind_and_32_hex_digits() {
        assert!(Sid::parse(
            "MG0123456789abcdef0123456789ABCDEF",
            SidKind::MessagingService
        )
        .is_some());
        assert!(Sid::parse(
            "MG0123456789abcdef0123456789abcde",
            SidKind::MessagingService
        )
        .is_none());
        assert!(Sid::parse(
            "CH0123456789abcdef0123456789abcdef",
            SidKind::MessagingService
        )
        .is_none());
        assert!(Sid::parse(
            "MG0123456789abcdef0123456789abcdeg",
            SidKind::MessagingService
        )
        .is_none());
        assert!(Sid::parse("CHé123456789abcdef0123456789abcde", SidKind::Conversation).is_none());
        assert!(is_sid_shaped("RE0123456789abcdef0123456789abcdef"));
        assert!(!is_sid_shaped("re0123456789abcdef0123456789abcdef"));
    }
}
