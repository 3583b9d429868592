//! One module per Lambda function: parse, decide, call Twilio, answer.

pub mod call_events;
pub mod conversation_events;
pub mod inbound_call;
pub mod landing;
pub mod sessions;
