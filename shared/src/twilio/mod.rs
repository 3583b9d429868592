//! The Twilio adapter: every request masked-comms makes to Twilio.

pub mod calls;
pub mod client;
pub mod conversations;
pub mod error;
pub mod messages;
pub mod numbers;
pub mod twiml;
pub mod webhooks;

pub use client::{Twilio, TwilioHttp, TwilioSettings};
pub use conversations::{
    Conversation, ConversationParams, ConversationState, MessagingBinding, Participant,
    ParticipantConversation,
};
pub use error::{code, TwilioError};
pub use numbers::{IncomingPhoneNumber, NumberWebhooks};
pub use webhooks::{
    AddressConfiguration, AutoCreation, ConversationsDefaults, WebhookConfiguration,
    WebhookConfigurationUpdate,
};
