//! One module per Lambda function: parse, decide, call Twilio, answer.

pub mod sessions;
