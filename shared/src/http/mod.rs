//! HTTP plumbing shared by the functions: the request wrapper, bodies,
//! operator auth, where a request came from, errors, webhook signatures.

pub mod auth;
pub mod body;
pub mod error;
pub mod error_code;
pub mod origin;
pub mod response;
pub mod route;
pub mod serve;
pub mod signature;
pub mod webhook;

pub use error::{ApiError, ErrorCode};
pub use serve::{serve, Invocation};
