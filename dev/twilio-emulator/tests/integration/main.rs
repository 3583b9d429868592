//! Integration tests of the Twilio emulator: its HTTP surface, webhooks, faults, and its
//! answers against Twilio's OpenAPI description. One binary, a module per area.

mod common;

mod conversations;
mod faults;
mod schema;
mod webhooks;
