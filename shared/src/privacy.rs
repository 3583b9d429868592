//! Redaction of phone numbers for logs: keep the country code and the last
//! two digits, so an operator can tell calls apart without learning numbers.

use std::fmt;

use crate::domain::address::split_channel;
use crate::domain::geo::split_country_code;

/// Displays a Twilio address (`+1...`, `whatsapp:+1...`) redacted.
pub struct Redacted<'a>(pub &'a str);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&redact(self.0))
    }
}

pub fn redact(address: &str) -> String {
    let (channel, number) = split_channel(address);
    let prefix = if channel.can_be_dialled() {
        ""
    } else {
        "whatsapp:"
    };
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 || !number.starts_with('+') {
        return format!("{prefix}[redacted]");
    }
    let country = split_country_code(number)
        .map(|(code, _)| code.to_string())
        .unwrap_or_default();
    let last_two: String = digits[digits.len() - 2..].iter().collect();
    let hidden = digits.len().saturating_sub(country.len() + 2);
    format!("{prefix}+{country}{}{last_two}", "*".repeat(hidden))
}

/// `text` with every phone number in it (`+` and digits, as Twilio's error
/// messages quote them) redacted: for text from elsewhere that is printed.
pub fn redact_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(plus) = rest.find('+') {
        out.push_str(&rest[..plus]);
        let digits = rest[plus + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let (number, after) = rest[plus..].split_at(1 + digits);
        if digits >= 6 {
            out.push_str(&redact(number));
        } else {
            out.push_str(number);
        }
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_country_code_and_last_two_digits() {
        assert_eq!(redact("+14155550101"), "+1********01");
        assert_eq!(redact("+447700900123"), "+44********23");
        assert_eq!(redact("whatsapp:+447700900123"), "whatsapp:+44********23");
    }

    #[test]
    fn never_shows_more_of_odd_input() {
        assert_eq!(redact("12345"), "[redacted]");
        assert_eq!(redact("4155550101"), "[redacted]");
        assert_eq!(redact(""), "[redacted]");
        let shown = redact("+99912345678");
        assert!(!shown.contains("123456"), "{shown}");
        assert!(shown.ends_with("78"), "{shown}");
    }

    #[test]
    fn numbers_inside_text_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_numbers("The phone number +14155550101 is not valid (+1, +44 7700)."),
            "The phone number +1********01 is not valid (+1, +44 7700)."
        );
        assert_eq!(redact_numbers("no numbers here"), "no numbers here");
        assert_eq!(
            redact_numbers("ends with +447700900123"),
            "ends with +44********23"
        );
    }
}
