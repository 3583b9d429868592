//! How a session's participants may reach each other: by voice, by
//! message, or both (Amazon Chime's `Capabilities`, Twilio Proxy's `mode`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Voice,
    Message,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Voice => "voice",
            Capability::Message => "message",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        match text {
            "voice" => Some(Capability::Voice),
            "message" => Some(Capability::Message),
            _ => None,
        }
    }
}

/// A non-empty set of capabilities; both unless a session says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Capability>", into = "Vec<Capability>")]
pub struct Capabilities {
    pub voice: bool,
    pub message: bool,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            voice: true,
            message: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapabilitiesError {
    #[error("must list at least one of `voice` and `message`")]
    Empty,
    #[error("may list only `voice` and `message`, each once")]
    Unknown,
}

impl Capabilities {
    pub fn is_default(&self) -> bool {
        *self == Capabilities::default()
    }

    pub fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::Voice => self.voice,
            Capability::Message => self.message,
        }
    }

    /// From the names a client sent: `voice`, `message`, each at most once.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, CapabilitiesError> {
        let mut found = Vec::with_capacity(names.len());
        for name in names {
            let capability = Capability::parse(name.as_ref()).ok_or(CapabilitiesError::Unknown)?;
            if found.contains(&capability) {
                return Err(CapabilitiesError::Unknown);
            }
            found.push(capability);
        }
        Capabilities::try_from(found)
    }

    pub fn list(&self) -> Vec<Capability> {
        Vec::from(*self)
    }
}

impl TryFrom<Vec<Capability>> for Capabilities {
    type Error = CapabilitiesError;

    fn try_from(list: Vec<Capability>) -> Result<Self, CapabilitiesError> {
        let capabilities = Capabilities {
            voice: list.contains(&Capability::Voice),
            message: list.contains(&Capability::Message),
        };
        if !capabilities.voice && !capabilities.message {
            return Err(CapabilitiesError::Empty);
        }
        Ok(capabilities)
    }
}

impl From<Capabilities> for Vec<Capability> {
    fn from(c: Capabilities) -> Self {
        [
            (c.voice, Capability::Voice),
            (c.message, Capability::Message),
        ]
        .into_iter()
        .filter_map(|(on, capability)| on.then_some(capability))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_clients_send() {
        assert_eq!(
            Capabilities::parse(&["voice"]).unwrap(),
            Capabilities {
                voice: true,
                message: false
            }
        );
        assert_eq!(
            Capabilities::parse(&["message", "voice"]).unwrap(),
            Capabilities::default()
        );
        assert_eq!(
            Capabilities::parse::<&str>(&[]),
            Err(CapabilitiesError::Empty)
        );
        assert_eq!(
            Capabilities::parse(&["video"]),
            Err(CapabilitiesError::Unknown)
        );
        assert_eq!(
            Capabilities::parse(&["voice", "voice"]),
            Err(CapabilitiesError::Unknown)
        );
        assert_eq!(
            Capabilities::parse(&["Voice"]),
            Err(CapabilitiesError::Unknown)
        );
    }

    #[test]
    fn serialises_as_a_list() {
        let only_voice = Capabilities {
            voice: true,
            message: false,
        };
        assert_eq!(serde_json::to_string(&only_voice).unwrap(), r#"["voice"]"#);
        let back: Capabilities = serde_json::from_str(r#"["message","voice"]"#).unwrap();
        assert_eq!(back, Capabilities::default());
        assert!(serde_json::from_str::<Capabilities>("[]").is_err());
    }
}
