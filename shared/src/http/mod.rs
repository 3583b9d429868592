//! HTTP plumbing shared by the functions: the request wrapper, bodies,
//! operator auth, where a request came from, errors, webhook signatures.

pub mod auth;
pub mod body;
pub mod error;
pub mod origin;
pub mod response;
pub mod serve;
pub mod signature;
pub mod webhook;

pub use error::ApiError;
pub use serve::{serve, Invocation};
