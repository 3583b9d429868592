//! Integration tests of the `masked-comms` library: every handler driven with real
//! `lambda_http` requests against the in-process Twilio emulator. One test binary with
//! a module per area, so the crate and its dependencies are linked once, not once per file.

// The handlers' futures nest deeply (wrapper, session service, Twilio
// client); clippy's layout lints otherwise stop at the default depth of 128.
#![recursion_limit = "256"]

mod support;

mod budgets;
mod callbacks;
mod contract;
mod contract_messages;
mod conversation_events;
mod ending;
mod events;
mod expiry;
mod faults;
mod floors;
mod hostile;
mod hostile_intercept;
mod hostile_messages;
mod iam_facts;
mod inbound_call;
mod index;
mod index_down;
mod intercept;
mod intercept_logs;
mod landing;
mod lifecycle;
mod local_flag;
mod log_capture;
mod logs;
mod messages;
mod metrics;
mod out_of_session;
mod participants;
mod properties;
mod races;
mod recordings;
mod replays;
mod reply_key;
mod seams;
mod sessions;
mod trust_roots;
