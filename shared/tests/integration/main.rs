//! Integration tests of the `masked-comms` library: every handler driven with real
//! `lambda_http` requests against the in-process Twilio emulator. One test binary with
//! a module per area, so the crate and its dependencies are linked once, not once per file.

// The handler futures nest deeply (sessions::handle inside test helpers): rustc 1.95's
// default query depth overflows computing their layout, as in bench/.
#![recursion_limit = "256"]

mod support;

mod callbacks;
mod contract;
mod conversation_events;
mod events;
mod faults;
mod hostile;
mod inbound_call;
mod index;
mod landing;
mod lifecycle;
mod logs;
mod out_of_session;
mod participants;
mod properties;
mod races;
mod seams;
mod sessions;
mod twilio_setup;
