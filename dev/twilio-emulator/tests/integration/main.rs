//! Integration tests of the Twilio emulator: its HTTP surface, webhooks, faults, and its
//! answers against Twilio's OpenAPI description. One binary, a module per area.

mod calls;
mod common;
mod hooks;

mod conversations;
mod faults;
mod messages;
mod numbers;
mod outbound_messages;
mod schema;
mod webhooks;
