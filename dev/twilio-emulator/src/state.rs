//! The emulator's Twilio state and the rules Twilio enforces on it.
//!
//! Everything lives behind one mutex (see `Shared::state`), so a rule check and the write
//! it guards happen atomically: two concurrent participant creates for the same
//! (address, proxy) pair race exactly as on Twilio, where one wins and one gets 50416.

use std::{collections::HashMap, time::Duration};

use serde::{Deserialize, Serialize};

use crate::{
    calls::{Call, InboundCall, Recording},
    conversations_webhooks::ConversationsWebhooks,
    errors::{codes, TwilioError},
    messaging::{
        new_message_sid, DeliverySnapshot, InboundTextSnapshot, Incoming, Message, MessageSnapshot,
    },
    numbers::PhoneNumber,
};

/// Twilio's conversation states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConversationState {
    Initializing,
    Inactive,
    Active,
    Closed,
}

impl ConversationState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initializing => "initializing",
            Self::Inactive => "inactive",
            Self::Active => "active",
            Self::Closed => "closed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "initializing" => Some(Self::Initializing),
            "inactive" => Some(Self::Inactive),
            "active" => Some(Self::Active),
            "closed" => Some(Self::Closed),
            _ => None,
        }
    }
}

/// The channel of a non-chat participant, from the address prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Channel {
    Sms,
    Whatsapp,
}

impl Channel {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Whatsapp => "whatsapp",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Binding {
    pub channel: Channel,
    pub address: String,
    pub proxy_address: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Participant {
    pub sid: String,
    pub identity: Option<String>,
    pub attributes: String,
    pub binding: Option<Binding>,
    pub created: u64,
    pub updated: u64,
}

/// Absolute timer deadlines (unix seconds). The emulator reports them but never fires them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Timers {
    pub inactive_at: Option<u64>,
    pub closed_at: Option<u64>,
}

#[derive(Debug, Clone)]
pub(crate) struct Conversation {
    /// Creation order; lists are ordered by it.
    pub seq: u64,
    pub sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub attributes: String,
    pub messaging_service_sid: String,
    pub state: ConversationState,
    pub timers: Timers,
    pub created: u64,
    pub updated: u64,
    pub participants: Vec<Participant>,
    pub messages: Vec<Message>,
    next_message_index: u64,
}

impl Conversation {
    fn non_chat_participants(&self) -> usize {
        self.participants
            .iter()
            .filter(|p| p.binding.is_some())
            .count()
    }
}

/// Parameters of create/update conversation, already validated for shape.
#[derive(Debug, Clone, Default)]
pub(crate) struct ConversationParams {
    pub friendly_name: Option<String>,
    pub unique_name: Option<String>,
    pub attributes: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub state: Option<ConversationState>,
    pub timers_inactive: Option<Duration>,
    pub timers_closed: Option<Duration>,
}

/// Parameters of create participant, already validated for shape (attributes are JSON).
#[derive(Debug, Clone, Default)]
pub(crate) struct ParticipantParams {
    pub address: Option<String>,
    pub proxy_address: Option<String>,
    pub identity: Option<String>,
    pub attributes: Option<String>,
}

/// The result of an update that changed the state, for the state-updated webhook.
#[derive(Debug, Clone)]
pub(crate) struct StateChange {
    pub sid: String,
    pub from: ConversationState,
    pub to: ConversationState,
    pub messaging_service_sid: String,
    pub at: u64,
    /// Twilio's `Reason`: `API`, `TIMER` or `EVENT` (a message woke it).
    pub reason: &'static str,
}

pub(crate) const MAX_NON_CHAT_PARTICIPANTS: usize = 50;
const MAX_ADDRESS_LEN: usize = 256;

/// `CH` + 32 lowercase hex, and so on for other prefixes.
pub(crate) fn new_sid(prefix: &str) -> String {
    format!("{prefix}{:032x}", rand::random::<u128>())
}

/// Splits `whatsapp:+1...` / `+1...` into its channel, if the number is E.164.
pub(crate) fn parse_address(address: &str) -> Option<Channel> {
    let (channel, number) = match address.strip_prefix("whatsapp:") {
        Some(rest) => (Channel::Whatsapp, rest),
        None => (Channel::Sms, address),
    };
    let digits = number.strip_prefix('+')?;
    let valid = (2..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0');
    valid.then_some(channel)
}

#[derive(Debug, Default)]
pub(crate) struct State {
    next_seq: u64,
    pub conversations: Vec<Conversation>,
    /// (address, proxy_address) -> sid of the non-closed conversation holding it.
    pairs: HashMap<(String, String), String>,
    /// Calls created through the Calls API.
    pub calls: Vec<Call>,
    /// Inbound calls the emulator placed toward us.
    pub inbound_calls: Vec<InboundCall>,
    /// Recordings calls left, until deleted.
    pub recordings: Vec<Recording>,
    /// Inbound texts and what became of them.
    pub texts: Vec<InboundTextSnapshot>,
    /// Texts sent out on our behalf.
    pub outbound_texts: Vec<DeliverySnapshot>,
    /// Messages created through the Messages resource.
    pub sent_messages: Vec<crate::outbound_messages::SentMessageSnapshot>,
    /// Orders calls of both kinds (the control API ends the latest by default).
    next_call_seq: u64,
    pub conversations_webhooks: ConversationsWebhooks,
    /// Conversations Address Configurations, oldest first.
    pub address_configurations: Vec<crate::addresses::AddressConfiguration>,
    /// The numbers the emulator owns, in the order they were added.
    pub numbers: Vec<PhoneNumber>,
}

impl State {
    /// An empty account that owns these numbers.
    pub(crate) fn with_numbers(numbers: Vec<PhoneNumber>) -> Self {
        Self {
            numbers,
            ..Self::default()
        }
    }

    /// Finds a conversation by sid, or by unique name (Twilio accepts either in paths).
    pub(crate) fn find(&self, sid_or_unique_name: &str) -> Option<usize> {
        self.conversations
            .iter()
            .position(|c| c.sid == sid_or_unique_name)
            .or_else(|| {
                self.conversations
                    .iter()
                    .position(|c| c.unique_name.as_deref() == Some(sid_or_unique_name))
            })
    }

    fn find_or_404(&self, sid_or_unique_name: &str) -> Result<usize, TwilioError> {
        self.find(sid_or_unique_name)
            .ok_or_else(|| TwilioError::not_found(&format!("/Conversations/{sid_or_unique_name}")))
    }

    fn unique_name_taken(&self, name: &str, except: Option<usize>) -> bool {
        self.conversations
            .iter()
            .enumerate()
            .any(|(i, c)| Some(i) != except && c.unique_name.as_deref() == Some(name))
    }

    fn apply_timers(timers: &mut Timers, params: &ConversationParams, now: u64) {
        if let Some(d) = params.timers_inactive {
            timers.inactive_at = Some(now + d.as_secs());
        }
        if let Some(d) = params.timers_closed {
            timers.closed_at = Some(now + d.as_secs());
        }
    }

    pub(crate) fn create_conversation(
        &mut self,
        params: ConversationParams,
        default_messaging_service_sid: &str,
        now: u64,
    ) -> Result<usize, TwilioError> {
        if let Some(name) = &params.unique_name {
            if self.unique_name_taken(name, None) {
                return Err(TwilioError::conflict(
                    codes::UNIQUE_NAME_TAKEN,
                    format!("Conversation with provided unique name {name} already exists"),
                ));
            }
        }
        let mut timers = Timers::default();
        Self::apply_timers(&mut timers, &params, now);
        self.next_seq += 1;
        let state = params.state.unwrap_or(ConversationState::Active);
        self.conversations.push(Conversation {
            seq: self.next_seq,
            sid: new_sid("CH"),
            unique_name: params.unique_name,
            friendly_name: params.friendly_name,
            attributes: params.attributes.unwrap_or_else(|| "{}".to_owned()),
            messaging_service_sid: params
                .messaging_service_sid
                .unwrap_or_else(|| default_messaging_service_sid.to_owned()),
            state,
            timers: if state == ConversationState::Closed {
                Timers::default()
            } else {
                timers
            },
            created: now,
            updated: now,
            participants: Vec::new(),
            messages: Vec::new(),
            next_message_index: 0,
        });
        Ok(self.conversations.len() - 1)
    }

    /// Applies an update. Returns the conversation index and, if the state changed, the change.
    pub(crate) fn update_conversation(
        &mut self,
        sid_or_unique_name: &str,
        params: ConversationParams,
        now: u64,
    ) -> Result<(usize, Option<StateChange>), TwilioError> {
        let index = self.find_or_404(sid_or_unique_name)?;
        if self.conversations[index].state == ConversationState::Closed {
            return Err(closed_error(&self.conversations[index].sid));
        }
        if let Some(name) = &params.unique_name {
            if self.unique_name_taken(name, Some(index)) {
                return Err(TwilioError::conflict(
                    codes::UNIQUE_NAME_TAKEN,
                    format!("Conversation with provided unique name {name} already exists"),
                ));
            }
        }
        let conversation = &mut self.conversations[index];
        if let Some(v) = &params.friendly_name {
            conversation.friendly_name = Some(v.clone());
        }
        if let Some(v) = &params.unique_name {
            conversation.unique_name = Some(v.clone());
        }
        if let Some(v) = &params.attributes {
            conversation.attributes = v.clone();
        }
        if let Some(v) = &params.messaging_service_sid {
            conversation.messaging_service_sid = v.clone();
        }
        Self::apply_timers(&mut conversation.timers, &params, now);
        conversation.updated = now;
        let change = match params.state {
            Some(to) if to != conversation.state => {
                let from = conversation.state;
                if to == ConversationState::Closed {
                    self.close_at(index, now);
                } else {
                    self.conversations[index].state = to;
                }
                let conversation = &self.conversations[index];
                Some(StateChange {
                    sid: conversation.sid.clone(),
                    from,
                    to,
                    messaging_service_sid: conversation.messaging_service_sid.clone(),
                    at: now,
                    reason: "API",
                })
            }
            _ => None,
        };
        Ok((index, change))
    }

    /// Closes a conversation: final, and frees its (address, proxy) pairs at once.
    pub(crate) fn close_at(&mut self, index: usize, now: u64) {
        let conversation = &mut self.conversations[index];
        conversation.state = ConversationState::Closed;
        conversation.timers = Timers::default();
        conversation.updated = now;
        let sid = conversation.sid.clone();
        self.pairs.retain(|_, holder| *holder != sid);
    }

    /// Closes by sid or unique name, as Twilio's closed timer does; errors if
    /// unknown or already closed.
    pub(crate) fn close(
        &mut self,
        sid_or_unique_name: &str,
        now: u64,
    ) -> Result<StateChange, TwilioError> {
        let index = self.find_or_404(sid_or_unique_name)?;
        let from = self.conversations[index].state;
        if from == ConversationState::Closed {
            return Err(closed_error(&self.conversations[index].sid));
        }
        self.close_at(index, now);
        let conversation = &self.conversations[index];
        Ok(StateChange {
            sid: conversation.sid.clone(),
            from,
            to: ConversationState::Closed,
            messaging_service_sid: conversation.messaging_service_sid.clone(),
            at: now,
            reason: "TIMER",
        })
    }

    pub(crate) fn delete_conversation(
        &mut self,
        sid_or_unique_name: &str,
    ) -> Result<(), TwilioError> {
        let index = self.find_or_404(sid_or_unique_name)?;
        let removed = self.conversations.remove(index);
        self.pairs.retain(|_, holder| *holder != removed.sid);
        Ok(())
    }

    /// Adds a participant, enforcing Twilio's binding rules. Returns (conversation index,
    /// participant index).
    pub(crate) fn add_participant(
        &mut self,
        sid_or_unique_name: &str,
        params: ParticipantParams,
        now: u64,
    ) -> Result<(usize, usize), TwilioError> {
        let index = self.find_or_404(sid_or_unique_name)?;
        let conversation = &self.conversations[index];
        if conversation.state == ConversationState::Closed {
            return Err(closed_error(&conversation.sid));
        }
        let binding = match (&params.address, &params.identity) {
            (Some(address), _) => {
                Some(self.check_binding(index, address, params.proxy_address.as_deref())?)
            }
            (None, Some(identity)) => {
                if conversation
                    .participants
                    .iter()
                    .any(|p| p.identity.as_deref() == Some(identity))
                {
                    return Err(TwilioError::conflict(
                        codes::PARTICIPANT_EXISTS,
                        format!("A participant with identity {identity} already exists in this conversation"),
                    ));
                }
                None
            }
            (None, None) => {
                return Err(TwilioError::bad_request(
                    codes::INVALID_PARAMETER,
                    "Either Identity or MessagingBinding.Address must be specified",
                ))
            }
        };
        let conversation_sid = conversation.sid.clone();
        if let Some(b) = &binding {
            self.pairs.insert(
                (b.address.clone(), b.proxy_address.clone()),
                conversation_sid,
            );
        }
        let conversation = &mut self.conversations[index];
        conversation.participants.push(Participant {
            sid: new_sid("MB"),
            identity: params.identity,
            attributes: params.attributes.unwrap_or_else(|| "{}".to_owned()),
            binding,
            created: now,
            updated: now,
        });
        Ok((index, conversation.participants.len() - 1))
    }

    /// (conversation index, participant index) of a participant, found by sid or, as
    /// Twilio also allows in paths, by identity.
    pub(crate) fn find_participant(
        &self,
        sid_or_unique_name: &str,
        sid_or_identity: &str,
    ) -> Result<(usize, usize), TwilioError> {
        let index = self.find_or_404(sid_or_unique_name)?;
        let participants = &self.conversations[index].participants;
        participants
            .iter()
            .position(|p| p.sid == sid_or_identity)
            .or_else(|| {
                participants
                    .iter()
                    .position(|p| p.identity.as_deref() == Some(sid_or_identity))
            })
            .map(|p| (index, p))
            .ok_or_else(|| {
                TwilioError::not_found(&format!(
                    "/Conversations/{sid_or_unique_name}/Participants/{sid_or_identity}"
                ))
            })
    }

    /// Removes a participant and frees its (address, proxy) pair at once. A closed
    /// conversation cannot change, so removing from one is 50377 (Twilio's docs do not
    /// say; this is the cautious reading of "closed is final").
    pub(crate) fn remove_participant(
        &mut self,
        sid_or_unique_name: &str,
        sid_or_identity: &str,
        now: u64,
    ) -> Result<(), TwilioError> {
        let (ci, pi) = self.find_participant(sid_or_unique_name, sid_or_identity)?;
        let conversation = &mut self.conversations[ci];
        if conversation.state == ConversationState::Closed {
            return Err(closed_error(&conversation.sid));
        }
        let removed = conversation.participants.remove(pi);
        conversation.updated = now;
        if let Some(b) = removed.binding {
            let key = (b.address, b.proxy_address);
            if self.pairs.get(&key) == Some(&conversation.sid) {
                self.pairs.remove(&key);
            }
        }
        Ok(())
    }

    /// The non-closed conversation holding (address, proxy_address), and the participant
    /// bound to that pair: (conversation index, participant index).
    pub(crate) fn binding_holder(
        &self,
        address: &str,
        proxy_address: &str,
    ) -> Option<(usize, usize)> {
        let sid = self
            .pairs
            .get(&(address.to_owned(), proxy_address.to_owned()))?;
        let ci = self.find(sid)?;
        let pi = self.conversations[ci].participants.iter().position(|p| {
            p.binding
                .as_ref()
                .is_some_and(|b| b.address == address && b.proxy_address == proxy_address)
        })?;
        Some((ci, pi))
    }

    /// Adds an inbound text as a message and delivers it to every other non-chat
    /// participant. Refuses when the conversation closed or went away meanwhile.
    pub(crate) fn add_message(
        &mut self,
        incoming: &Incoming,
        now: u64,
    ) -> Result<MessageAdded, String> {
        let index = self
            .find(&incoming.conversation_sid)
            .ok_or("the conversation was deleted meanwhile")?;
        let conversation = &mut self.conversations[index];
        if conversation.state == ConversationState::Closed {
            return Err("the conversation was closed meanwhile".into());
        }
        let sid = new_message_sid();
        let deliveries: Vec<DeliverySnapshot> = conversation
            .participants
            .iter()
            .filter(|p| p.sid != incoming.participant_sid)
            .filter_map(|p| p.binding.as_ref())
            .map(|b| DeliverySnapshot {
                to: b.address.clone(),
                from: b.proxy_address.clone(),
                body: incoming.body.clone(),
                conversation_sid: Some(conversation.sid.clone()),
                message_sid: Some(sid.clone()),
            })
            .collect();
        let message = Message {
            sid,
            index: conversation.next_message_index,
            author: incoming.author.clone(),
            body: incoming.body.clone(),
            participant_sid: Some(incoming.participant_sid.clone()),
            attributes: incoming.attributes.clone(),
            recipients: deliveries.len(),
            created: now,
        };
        conversation.next_message_index += 1;
        conversation.messages.push(message.clone());
        conversation.updated = now;
        // Inactive turns active on the next message.
        let woke = (conversation.state == ConversationState::Inactive).then(|| {
            conversation.state = ConversationState::Active;
            StateChange {
                sid: conversation.sid.clone(),
                from: ConversationState::Inactive,
                to: ConversationState::Active,
                messaging_service_sid: conversation.messaging_service_sid.clone(),
                at: now,
                reason: "EVENT",
            }
        });
        self.outbound_texts.extend(deliveries);
        Ok(MessageAdded { message, woke })
    }

    /// The non-chat participant rules, in the order Twilio reports them.
    fn check_binding(
        &self,
        index: usize,
        address: &str,
        proxy_address: Option<&str>,
    ) -> Result<Binding, TwilioError> {
        let invalid =
            |message: String| TwilioError::bad_request(codes::INVALID_BINDING_ADDRESS, message);
        let Some(proxy_address) = proxy_address else {
            return Err(invalid(
                "MessagingBinding.ProxyAddress is required for a non-chat participant".into(),
            ));
        };
        if address.len() > MAX_ADDRESS_LEN || proxy_address.len() > MAX_ADDRESS_LEN {
            return Err(invalid(format!(
                "Address and ProxyAddress must be at most {MAX_ADDRESS_LEN} characters"
            )));
        }
        let Some(channel) = parse_address(address) else {
            return Err(invalid(format!(
                "Invalid messaging binding address {address}"
            )));
        };
        let Some(proxy_channel) = parse_address(proxy_address) else {
            return Err(invalid(format!(
                "Invalid messaging binding proxy address {proxy_address}"
            )));
        };
        if channel != proxy_channel {
            return Err(invalid(
                "Address and ProxyAddress must use the same channel".into(),
            ));
        }
        if address == proxy_address {
            return Err(TwilioError::bad_request(
                codes::ADDRESS_EQUALS_PROXY,
                "Messaging binding address and proxy address cannot be the same",
            ));
        }
        let conversation = &self.conversations[index];
        if conversation
            .participants
            .iter()
            .any(|p| p.binding.as_ref().is_some_and(|b| b.address == address))
        {
            return Err(TwilioError::conflict(
                codes::PARTICIPANT_EXISTS,
                "A participant with this address already exists in this conversation",
            ));
        }
        if let Some(holder) = self
            .pairs
            .get(&(address.to_owned(), proxy_address.to_owned()))
        {
            return Err(TwilioError::conflict(
                codes::PAIR_IN_USE,
                format!(
                    "A binding for this participant and proxy address already exists in Conversation {holder}"
                ),
            ));
        }
        if conversation.non_chat_participants() >= MAX_NON_CHAT_PARTICIPANTS {
            return Err(TwilioError::bad_request(
                codes::NON_CHAT_LIMIT,
                format!(
                    "Conversation already has the maximum of {MAX_NON_CHAT_PARTICIPANTS} non-chat participants"
                ),
            ));
        }
        Ok(Binding {
            channel,
            address: address.to_owned(),
            proxy_address: proxy_address.to_owned(),
        })
    }

    /// (conversation, participant) for every participant with this address or identity,
    /// closed conversations included, newest conversation first.
    pub(crate) fn participant_conversations(
        &self,
        address: Option<&str>,
        identity: Option<&str>,
    ) -> Vec<(&Conversation, &Participant)> {
        let mut found: Vec<(&Conversation, &Participant)> = self
            .conversations
            .iter()
            .flat_map(|c| c.participants.iter().map(move |p| (c, p)))
            .filter(|(_, p)| {
                let by_address =
                    address.is_some_and(|a| p.binding.as_ref().is_some_and(|b| b.address == a));
                let by_identity = identity.is_some_and(|i| p.identity.as_deref() == Some(i));
                by_address || by_identity
            })
            .collect();
        found.sort_by_key(|(c, _)| std::cmp::Reverse(c.seq));
        found
    }

    /// The next number in the order of calls.
    pub(crate) fn next_call_seq(&mut self) -> u64 {
        self.next_call_seq += 1;
        self.next_call_seq
    }

    /// A number the emulator owns, by its E.164 form (a `whatsapp:` prefix is ignored:
    /// a WhatsApp sender is the same number).
    pub(crate) fn number(&self, address: &str) -> Option<&PhoneNumber> {
        let number = address.strip_prefix("whatsapp:").unwrap_or(address);
        self.numbers.iter().find(|n| n.phone_number == number)
    }

    /// Adds a number the emulator owns; refuses one it already owns.
    pub(crate) fn add_number(&mut self, number: PhoneNumber) -> Result<&PhoneNumber, String> {
        if self.number(&number.phone_number).is_some() {
            return Err(format!("{} is already owned", number.phone_number));
        }
        self.numbers.push(number);
        Ok(self.numbers.last().expect("just pushed"))
    }

    pub(crate) fn snapshot(&self) -> Vec<ConversationSnapshot> {
        self.conversations
            .iter()
            .map(ConversationSnapshot::from)
            .collect()
    }
}

/// What adding a message did.
#[derive(Debug, Clone)]
pub(crate) struct MessageAdded {
    pub message: Message,
    /// The state change when the message woke an inactive conversation.
    pub woke: Option<StateChange>,
}

fn closed_error(sid: &str) -> TwilioError {
    TwilioError::conflict(
        codes::CONVERSATION_CLOSED,
        format!("Conversation {sid} is closed and cannot be updated"),
    )
}

/// A conversation as tests see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConversationSnapshot {
    pub sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub state: ConversationState,
    /// The JSON string, as stored.
    pub attributes: String,
    pub messaging_service_sid: String,
    pub participants: Vec<ParticipantSnapshot>,
    /// Messages, oldest first.
    pub messages: Vec<MessageSnapshot>,
}

/// A participant as tests see it. Chat participants have empty `address`/`proxy_address`
/// and an `identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantSnapshot {
    pub sid: String,
    pub address: String,
    pub proxy_address: String,
    pub identity: Option<String>,
}

impl From<&Conversation> for ConversationSnapshot {
    fn from(c: &Conversation) -> Self {
        Self {
            sid: c.sid.clone(),
            unique_name: c.unique_name.clone(),
            friendly_name: c.friendly_name.clone(),
            state: c.state,
            attributes: c.attributes.clone(),
            messaging_service_sid: c.messaging_service_sid.clone(),
            participants: c
                .participants
                .iter()
                .map(|p| ParticipantSnapshot {
                    sid: p.sid.clone(),
                    address: p
                        .binding
                        .as_ref()
                        .map(|b| b.address.clone())
                        .unwrap_or_default(),
                    proxy_address: p
                        .binding
                        .as_ref()
                        .map(|b| b.proxy_address.clone())
                        .unwrap_or_default(),
                    identity: p.identity.clone(),
                })
                .collect(),
            messages: c.messages.iter().map(MessageSnapshot::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms(address: &str, proxy: &str) -> ParticipantParams {
        ParticipantParams {
            address: Some(address.into()),
            proxy_address: Some(proxy.into()),
            ..Default::default()
        }
    }

    fn new_conversation(state: &mut State) -> String {
        let i = state
            .create_conversation(ConversationParams::default(), "MG0", 1)
            .unwrap();
        state.conversations[i].sid.clone()
    }

    #[test]
    fn address_validation() {
        assert_eq!(parse_address("+14155550101"), Some(Channel::Sms));
        assert_eq!(
            parse_address("whatsapp:+14155550101"),
            Some(Channel::Whatsapp)
        );
        for bad in [
            "14155550101",
            "+0123",
            "+1",
            "+1415555010a",
            "+1234567890123456",
            "sms:+1415",
        ] {
            assert_eq!(parse_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn pair_is_held_until_close_and_inactive_still_holds() {
        let mut state = State::default();
        let a = new_conversation(&mut state);
        let b = new_conversation(&mut state);
        state
            .add_participant(&a, sms("+15550000001", "+15550009999"), 1)
            .unwrap();
        let params = ConversationParams {
            state: Some(ConversationState::Inactive),
            ..Default::default()
        };
        state.update_conversation(&a, params, 2).unwrap();
        let err = state
            .add_participant(&b, sms("+15550000001", "+15550009999"), 3)
            .unwrap_err();
        assert_eq!(err.code, codes::PAIR_IN_USE);
        let change = state.close(&a, 4).unwrap();
        assert_eq!(change.from, ConversationState::Inactive);
        state
            .add_participant(&b, sms("+15550000001", "+15550009999"), 5)
            .unwrap();
    }

    #[test]
    fn non_chat_limit_is_fifty() {
        let mut state = State::default();
        let c = new_conversation(&mut state);
        for i in 0..MAX_NON_CHAT_PARTICIPANTS {
            state
                .add_participant(&c, sms(&format!("+1555000{i:04}"), "+15559999999"), 1)
                .unwrap();
        }
        // Chat participants do not count towards the limit.
        let chat = ParticipantParams {
            identity: Some("agent".into()),
            ..Default::default()
        };
        state.add_participant(&c, chat, 1).unwrap();
        let err = state
            .add_participant(&c, sms("+15551230000", "+15559999999"), 1)
            .unwrap_err();
        assert_eq!((err.status, err.code), (400, codes::NON_CHAT_LIMIT));
    }

    #[test]
    fn whatsapp_and_sms_cannot_mix() {
        let mut state = State::default();
        let c = new_conversation(&mut state);
        let err = state
            .add_participant(&c, sms("whatsapp:+15550000001", "+15550009999"), 1)
            .unwrap_err();
        assert_eq!(err.code, codes::INVALID_BINDING_ADDRESS);
        let (ci, pi) = state
            .add_participant(&c, sms("whatsapp:+15550000001", "whatsapp:+15550009999"), 1)
            .unwrap();
        let binding = state.conversations[ci].participants[pi]
            .binding
            .as_ref()
            .unwrap();
        assert_eq!(binding.channel, Channel::Whatsapp);
    }

    #[test]
    fn delete_frees_pairs_and_unique_name() {
        let mut state = State::default();
        let params = ConversationParams {
            unique_name: Some("session-1".into()),
            ..Default::default()
        };
        let i = state.create_conversation(params.clone(), "MG0", 1).unwrap();
        let sid = state.conversations[i].sid.clone();
        state
            .add_participant("session-1", sms("+15550000001", "+15550009999"), 1)
            .unwrap();
        assert_eq!(
            state
                .create_conversation(params.clone(), "MG0", 1)
                .unwrap_err()
                .code,
            codes::UNIQUE_NAME_TAKEN
        );
        state.delete_conversation(&sid).unwrap();
        let j = state.create_conversation(params, "MG0", 2).unwrap();
        let sid2 = state.conversations[j].sid.clone();
        state
            .add_participant(&sid2, sms("+15550000001", "+15550009999"), 2)
            .unwrap();
    }
}
