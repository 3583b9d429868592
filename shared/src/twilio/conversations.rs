//! Conversations API v1: conversations, participants, and the conversations
//! of an address.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::client::{Idempotency, Twilio};
use super::error::TwilioError;

/// Twilio's page size limit for `ParticipantConversations`.
const PARTICIPANT_CONVERSATIONS_PAGE_SIZE: &str = "50";
/// Twilio's page size limit for conversation participants.
const PARTICIPANTS_PAGE_SIZE: &str = "100";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Initializing,
    Inactive,
    Active,
    Closed,
    #[serde(other)]
    Unknown,
}

impl ConversationState {
    /// Twilio's name for the state (what a webhook or an update carries).
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationState::Initializing => "initializing",
            ConversationState::Inactive => "inactive",
            ConversationState::Active => "active",
            ConversationState::Closed => "closed",
            ConversationState::Unknown => "unknown",
        }
    }

    /// From Twilio's name; anything else is [`ConversationState::Unknown`].
    pub fn parse(text: &str) -> Self {
        [
            ConversationState::Initializing,
            ConversationState::Inactive,
            ConversationState::Active,
            ConversationState::Closed,
        ]
        .into_iter()
        .find(|state| state.as_str() == text)
        .unwrap_or(ConversationState::Unknown)
    }

    /// Whether the conversation still holds its (address, proxy) pairs.
    pub fn holds_bindings(self) -> bool {
        self != ConversationState::Closed
    }
}

/// A conversation in Twilio's shape; fields we do not use pass through.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Conversation {
    pub sid: String,
    #[serde(default)]
    pub unique_name: Option<String>,
    /// Twilio's description allows null; treat it like unset (`{}`).
    #[serde(default, deserialize_with = "null_as_empty_object")]
    pub attributes: String,
    pub state: ConversationState,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

fn null_as_empty_object<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(|| "{}".to_owned()))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagingBinding {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    pub address: Option<String>,
    pub proxy_address: Option<String>,
}

/// A participant in Twilio's shape.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Participant {
    pub sid: String,
    #[serde(default)]
    pub messaging_binding: Option<MessagingBinding>,
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One item of `ParticipantConversations`: a conversation an address is in.
#[derive(Debug, Clone, Deserialize)]
pub struct ParticipantConversation {
    pub participant_sid: Option<String>,
    pub participant_messaging_binding: Option<MessagingBinding>,
    pub conversation_sid: String,
    #[serde(default)]
    pub conversation_unique_name: Option<String>,
    #[serde(default)]
    pub conversation_friendly_name: Option<String>,
    #[serde(default)]
    pub conversation_attributes: Option<String>,
    pub conversation_state: ConversationState,
    #[serde(default)]
    pub conversation_timers: Option<Value>,
    #[serde(default)]
    pub conversation_date_created: Option<String>,
    #[serde(default)]
    pub conversation_date_updated: Option<String>,
}

impl ParticipantConversation {
    pub fn proxy_address(&self) -> Option<&str> {
        self.participant_messaging_binding
            .as_ref()?
            .proxy_address
            .as_deref()
    }
}

#[derive(Debug, Deserialize)]
struct PageMeta {
    next_page_url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ParticipantConversationsPage {
    conversations: Vec<ParticipantConversation>,
    meta: PageMeta,
}

#[derive(Debug, Deserialize)]
struct ParticipantsPage {
    participants: Vec<Participant>,
    meta: PageMeta,
}

/// Parameters of a conversation create or update, by Twilio's names.
#[derive(Debug, Clone, Default)]
pub struct ConversationParams<'a> {
    pub friendly_name: Option<&'a str>,
    pub unique_name: Option<&'a str>,
    pub attributes: Option<&'a str>,
    pub messaging_service_sid: Option<&'a str>,
    pub state: Option<ConversationState>,
    pub timers_inactive: Option<&'a str>,
    pub timers_closed: Option<&'a str>,
}

impl<'a> ConversationParams<'a> {
    fn form(&self) -> Vec<(&'static str, &'a str)> {
        [
            ("FriendlyName", self.friendly_name),
            ("UniqueName", self.unique_name),
            ("Attributes", self.attributes),
            ("MessagingServiceSid", self.messaging_service_sid),
            ("State", self.state.map(ConversationState::as_str)),
            ("Timers.Inactive", self.timers_inactive),
            ("Timers.Closed", self.timers_closed),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
    }
}

fn path_segment(sid_or_name: &str) -> String {
    url::form_urlencoded::byte_serialize(sid_or_name.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl Twilio<'_> {
    /// Every conversation the address is in, closed ones included, across pages.
    pub async fn participant_conversations(
        &self,
        address: &str,
    ) -> Result<Vec<ParticipantConversation>, TwilioError> {
        let base = self.conversations_url("");
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Address", address)
            .append_pair("PageSize", PARTICIPANT_CONVERSATIONS_PAGE_SIZE)
            .finish();
        let mut url = Some(format!("{base}/v1/ParticipantConversations?{query}"));
        let mut all = Vec::new();
        while let Some(next) = url {
            let page: ParticipantConversationsPage = self.get(&next).await?;
            all.extend(page.conversations);
            url = self.next_page(&base, page.meta.next_page_url.as_deref());
        }
        Ok(all)
    }

    /// Creates a conversation. Not safe to repeat on its own: a lost answer
    /// is reported as [`TwilioError::OutcomeUnknown`].
    pub async fn create_conversation(
        &self,
        params: &ConversationParams<'_>,
    ) -> Result<Conversation, TwilioError> {
        let url = self.conversations_url("/v1/Conversations");
        self.post(&url, &params.form(), Idempotency::Unsafe).await
    }

    pub async fn fetch_conversation(&self, sid_or_name: &str) -> Result<Conversation, TwilioError> {
        let url =
            self.conversations_url(&format!("/v1/Conversations/{}", path_segment(sid_or_name)));
        self.get(&url).await
    }

    /// Sets absolute values, so it is safe to repeat.
    pub async fn update_conversation(
        &self,
        sid: &str,
        params: &ConversationParams<'_>,
    ) -> Result<Conversation, TwilioError> {
        let url = self.conversations_url(&format!("/v1/Conversations/{}", path_segment(sid)));
        self.post(&url, &params.form(), Idempotency::Safe).await
    }

    /// Deletes a conversation; one that is already gone counts as deleted.
    pub async fn delete_conversation(&self, sid: &str) -> Result<(), TwilioError> {
        let url = self.conversations_url(&format!("/v1/Conversations/{}", path_segment(sid)));
        match self.delete(&url).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }

    /// Adds an SMS/WhatsApp participant bound to `proxy_address`.
    pub async fn add_participant(
        &self,
        conversation_sid: &str,
        address: &str,
        proxy_address: &str,
    ) -> Result<Participant, TwilioError> {
        let url = self.conversations_url(&format!(
            "/v1/Conversations/{}/Participants",
            path_segment(conversation_sid)
        ));
        let form = [
            ("MessagingBinding.Address", address),
            ("MessagingBinding.ProxyAddress", proxy_address),
        ];
        self.post(&url, &form, Idempotency::Unsafe).await
    }

    pub async fn participants(
        &self,
        conversation_sid: &str,
    ) -> Result<Vec<Participant>, TwilioError> {
        let base = self.conversations_url("");
        let mut url = Some(format!(
            "{base}/v1/Conversations/{}/Participants?PageSize={PARTICIPANTS_PAGE_SIZE}",
            path_segment(conversation_sid)
        ));
        let mut all = Vec::new();
        while let Some(next) = url {
            let page: ParticipantsPage = self.get(&next).await?;
            all.extend(page.participants);
            url = self.next_page(&base, page.meta.next_page_url.as_deref());
        }
        Ok(all)
    }
}

impl Twilio<'_> {
    pub async fn fetch_participant(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
    ) -> Result<Participant, TwilioError> {
        let url = self.conversations_url(&format!(
            "/v1/Conversations/{}/Participants/{}",
            path_segment(conversation_sid),
            path_segment(participant_sid)
        ));
        self.get(&url).await
    }

    /// Removes a participant, freeing their (address, proxy) pair; one
    /// already gone counts as removed.
    pub async fn delete_participant(
        &self,
        conversation_sid: &str,
        participant_sid: &str,
    ) -> Result<(), TwilioError> {
        let url = self.conversations_url(&format!(
            "/v1/Conversations/{}/Participants/{}",
            path_segment(conversation_sid),
            path_segment(participant_sid)
        ));
        match self.delete(&url).await {
            Err(e) if e.is_not_found() => Ok(()),
            other => other,
        }
    }
}
