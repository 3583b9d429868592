//! HTTP plumbing shared by the functions: bodies, operator auth, errors.

pub mod auth;
pub mod body;
pub mod error;
pub mod response;
pub mod signature;
pub mod webhook;

pub use error::ApiError;
