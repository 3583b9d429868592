//! masked-comms: masked communications on Twilio Conversations.
//!
//! The domain (number choice, session rules) is pure and lives in [`domain`];
//! Twilio I/O in [`twilio`]; configuration in [`config`]; each Lambda's
//! request handling in [`handlers`]. `make twilio-setup` is its own crate
//! (dev/twilio-setup), never linked into a Lambda binary.

pub mod after_answer;
pub mod app;
pub mod aws_sdk_config;
pub mod callback_url;
pub mod config;
pub mod deferred;
pub mod domain;
pub mod events;
pub mod facts;
pub mod fanout;
pub mod function;
pub mod handlers;
pub mod http;
pub mod index;
pub mod intercept;
pub mod lambda;
pub mod logging;
pub mod metrics;
pub mod out_of_session;
pub mod privacy;
pub mod recording_deletes;
pub mod reply_key;
pub mod runner;
pub mod session;
pub mod trust_roots;
pub mod twilio;

pub use app::AppState;
