//! Participant addresses: an E.164 number, optionally on the WhatsApp channel.

use std::fmt;

use serde::{Deserialize, Serialize};

const WHATSAPP_PREFIX: &str = "whatsapp:";
/// E.164 allows at most 15 digits; the shortest numbers in use (small
/// numbering plans such as Niue's) have 7 including the country code.
const MIN_DIGITS: usize = 7;
const MAX_DIGITS: usize = 15;

/// How Twilio relays to a participant: plain SMS/voice or WhatsApp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Whatsapp,
}

impl Channel {
    fn prefix(self) -> &'static str {
        match self {
            Channel::Sms => "",
            Channel::Whatsapp => WHATSAPP_PREFIX,
        }
    }

    /// Whether Twilio can place a voice call to this channel.
    pub fn can_be_dialled(self) -> bool {
        self == Channel::Sms
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Whatsapp => "whatsapp",
        }
    }
}

/// Why a string is not an address we accept. Messages never repeat the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("is empty")]
    Empty,
    #[error("has no number after the `whatsapp:` prefix")]
    WhatsappWithoutNumber,
    #[error("starts with 00; write the international prefix as + (E.164)")]
    DoubleZeroPrefix,
    #[error("must start with + and the country code (E.164)")]
    MissingPlus,
    #[error("may contain only the digits 0-9 after the + (no spaces, letters or punctuation)")]
    NotDigits,
    #[error("has a country code starting with 0")]
    LeadingZero,
    #[error("is too short for an E.164 number (at least {MIN_DIGITS} digits)")]
    TooShort,
    #[error("is too long for an E.164 number (at most {MAX_DIGITS} digits)")]
    TooLong,
}

/// A phone number in E.164 form (`+` and 7 to 15 ASCII digits), without channel.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        if input.is_empty() {
            return Err(AddressError::Empty);
        }
        let Some(digits) = input.strip_prefix('+') else {
            return Err(if input.starts_with("00") {
                AddressError::DoubleZeroPrefix
            } else {
                AddressError::MissingPlus
            });
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AddressError::NotDigits);
        }
        if digits.starts_with('0') {
            return Err(AddressError::LeadingZero);
        }
        match digits.len() {
            n if n < MIN_DIGITS => Err(AddressError::TooShort),
            n if n > MAX_DIGITS => Err(AddressError::TooLong),
            _ => Ok(PhoneNumber(input.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A participant's real address as Twilio writes it: `+1...` or `whatsapp:+1...`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address {
    channel: Channel,
    number: PhoneNumber,
}

impl Address {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        match input.strip_prefix(WHATSAPP_PREFIX) {
            Some("") => Err(AddressError::WhatsappWithoutNumber),
            Some(rest) => Ok(Address {
                channel: Channel::Whatsapp,
                number: PhoneNumber::parse(rest)?,
            }),
            None => Ok(Address {
                channel: Channel::Sms,
                number: PhoneNumber::parse(input)?,
            }),
        }
    }

    pub fn new(channel: Channel, number: PhoneNumber) -> Self {
        Address { channel, number }
    }

    pub fn channel(&self) -> Channel {
        self.channel
    }

    pub fn number(&self) -> &PhoneNumber {
        &self.number
    }

    /// The proxy address Twilio expects for this participant on a pool number:
    /// the same channel prefix as the participant's own address.
    pub fn proxy_on(&self, pool_number: &PhoneNumber) -> String {
        format!("{}{}", self.channel.prefix(), pool_number)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.channel.prefix(), self.number)
    }
}

/// Splits a Twilio address (`whatsapp:+1...` or `+1...`) into channel and the
/// raw number, without validating the number.
pub fn split_channel(address: &str) -> (Channel, &str) {
    match address.strip_prefix(WHATSAPP_PREFIX) {
        Some(rest) => (Channel::Whatsapp, rest),
        None => (Channel::Sms, address),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sms_and_whatsapp_numbers() {
        let sms = Address::parse("+14155550101").unwrap();
        assert_eq!(sms.channel(), Channel::Sms);
        assert_eq!(sms.to_string(), "+14155550101");

        let wa = Address::parse("whatsapp:+447700900123").unwrap();
        assert_eq!(wa.channel(), Channel::Whatsapp);
        assert_eq!(wa.number().as_str(), "+447700900123");
        assert_eq!(wa.to_string(), "whatsapp:+447700900123");
    }

    #[test]
    fn proxy_carries_the_participants_channel() {
        let pool = PhoneNumber::parse("+15005550006").unwrap();
        assert_eq!(
            Address::parse("whatsapp:+447700900123")
                .unwrap()
                .proxy_on(&pool),
            "whatsapp:+15005550006"
        );
        assert_eq!(
            Address::parse("+14155550101").unwrap().proxy_on(&pool),
            "+15005550006"
        );
    }

    #[test]
    fn rejects_each_malformed_shape_with_its_reason() {
        let cases = [
            ("", AddressError::Empty),
            ("whatsapp:", AddressError::WhatsappWithoutNumber),
            ("0014155550101", AddressError::DoubleZeroPrefix),
            ("14155550101", AddressError::MissingPlus),
            ("+1 415 555 0101", AddressError::NotDigits),
            ("+1415555010a", AddressError::NotDigits),
            ("+١٤١٥٥٥٥٠١٠١", AddressError::NotDigits),
            ("+04155550101", AddressError::LeadingZero),
            ("+123456", AddressError::TooShort),
            ("+1234567890123456", AddressError::TooLong),
            ("whatsapp:14155550101", AddressError::MissingPlus),
            ("WhatsApp:+14155550101", AddressError::MissingPlus),
            (" +14155550101", AddressError::MissingPlus),
            ("+14155550101\r\n", AddressError::NotDigits),
        ];
        for (input, expected) in cases {
            assert_eq!(Address::parse(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn error_messages_never_echo_the_input() {
        let input = "+1415555010x";
        let message = Address::parse(input).unwrap_err().to_string();
        assert!(!message.contains("1415555010"), "{message}");
    }

    #[test]
    fn length_bounds_are_inclusive() {
        assert!(Address::parse("+6831234").is_ok());
        assert!(Address::parse("+123456789012345").is_ok());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    /// Strings near the E.164 shape: digits, pluses, prefixes, separators,
    /// look-alike Unicode digits and plus signs.
    fn near_e164() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            4 => "[0-9]{1,6}",
            1 => Just("+".to_owned()),
            1 => Just("00".to_owned()),
            1 => Just("whatsapp:".to_owned()),
            1 => Just(" ".to_owned()),
            1 => Just("-".to_owned()),
            1 => Just("＋".to_owned()),
            1 => Just("١".to_owned()),
            1 => Just("１".to_owned()),
            1 => Just("\r\n".to_owned()),
            1 => "[a-zA-Z]{1,2}",
        ];
        prop::collection::vec(piece, 0..8).prop_map(|p| p.concat())
    }

    fn is_e164(text: &str) -> bool {
        let Some(digits) = text.strip_prefix('+') else {
            return false;
        };
        (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    }

    proptest! {
        // Failures print their minimal input; no regression files in the tree.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        /// Anything parses or is refused without panicking; what parses is
        /// exactly `[whatsapp:]+` and 7 to 15 ASCII digits, and prints as given.
        #[test]
        fn parse_accepts_exactly_e164(input in prop_oneof![any::<String>(), near_e164()]) {
            match Address::parse(&input) {
                Ok(address) => {
                    prop_assert_eq!(address.to_string(), input.clone());
                    let (channel, number) = split_channel(&input);
                    prop_assert_eq!(address.channel(), channel);
                    prop_assert!(is_e164(number), "accepted {:?}", input);
                    prop_assert_eq!(address.number().as_str(), number);
                }
                Err(_) => {
                    let (_, number) = split_channel(&input);
                    prop_assert!(!is_e164(number), "refused {:?}", input);
                }
            }
        }

        /// Every E.164 number parses, on either channel.
        #[test]
        fn every_e164_number_parses(number in "\\+[1-9][0-9]{6,14}", whatsapp in any::<bool>()) {
            let input = if whatsapp { format!("whatsapp:{number}") } else { number.clone() };
            let address = Address::parse(&input).unwrap();
            prop_assert_eq!(address.number().as_str(), number.as_str());
            prop_assert_eq!(address.channel() == Channel::Whatsapp, whatsapp);
            prop_assert_eq!(address.proxy_on(address.number()), input);
        }

        /// Refusals never repeat the input (it may be someone's number).
        #[test]
        fn errors_never_echo_the_input(input in "(whatsapp:)?[+0-9 ]{6,20}") {
            if let Err(err) = Address::parse(&input) {
                prop_assert!(!err.to_string().contains(input.as_str()), "{}", err);
            }
        }
    }
}
