//! Metrics in CloudWatch's Embedded Metric Format (EMF): at the end of each
//! invocation the request wrapper ([`crate::http::serve`]) writes one JSON
//! document to stdout, on a line of its own beside the request's log line,
//! and CloudWatch Logs turns it into metrics. No API call, no permission
//! beyond writing logs, nothing on the answer's path but formatting a line.
//!
//! - [`ALL`] (catalogue.rs): every metric with its unit and dimensions, in [`NAMESPACE`].
//!   The dashboard and alarms in template.yaml are checked against this list
//!   (the facts file, [`crate::facts`], lists it for tests/deploy).
//! - [`Recorder`] (recorder.rs): one invocation's facts, hung off [`crate::http::Invocation`]
//!   so the handlers, the session service and the Twilio client can count
//!   into it. Counting is an atomic add into a fixed array: no allocation.
//! - [`Sink`] (sink.rs): where documents go (stdout in Lambda, memory in tests).
//!
//! Privacy by construction: a document holds numbers, names from the fixed
//! lists below, the function's name and Lambda's request id (only when it
//! is id-shaped). No phone number, sid or other per-user value can reach a
//! dimension or a value, because nothing here accepts one.
//! - emf.rs: the document itself, in the Embedded Metric Format.

mod catalogue;
mod emf;
mod recorder;
mod sink;

pub use catalogue::*;
pub use recorder::{function_name, Answered, Recorder, FUNCTION_NAME_ENV};
pub use sink::Sink;
