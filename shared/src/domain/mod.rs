//! Pure domain logic: no I/O, unit-tested beside the code.

pub mod added_message;
pub mod address;
pub mod capabilities;
pub mod duration;
pub mod geo;
pub mod instant;
pub mod intercept;
pub mod out_of_session;
pub mod outbound_message;
pub mod pool;
pub mod roster;
pub mod routing;
pub mod session;
pub mod sid;
