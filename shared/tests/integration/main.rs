//! Integration tests of the `masked-comms` library: every handler driven with real
//! `lambda_http` requests against the in-process Twilio emulator. One test binary with
//! a module per area, so the crate and its dependencies are linked once, not once per file.

// The handlers' futures nest deeply (serve -> route -> session service ->
// Twilio and index calls); laying out `callbacks::send`'s overflows rustc
// 1.95's default query depth of 128.
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
