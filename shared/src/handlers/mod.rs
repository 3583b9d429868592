//! One module per Lambda function: parse, decide, call Twilio, answer.

pub mod call_events;
pub mod conversation_events;
pub mod inbound_call;
pub mod inbound_message;
pub mod landing;
pub mod sessions;

use crate::config::Function;
use crate::http::route::RouteKey;

/// The routes `function` answers, as its handler's table states them.
pub fn routes(function: Function) -> Vec<RouteKey> {
    fn keys<R>(table: &[crate::http::route::Route<R>]) -> Vec<RouteKey> {
        table.iter().map(RouteKey::from).collect()
    }
    match function {
        Function::Sessions => keys(sessions::ROUTES),
        Function::InboundCall => keys(inbound_call::ROUTES),
        Function::ConversationEvents => keys(conversation_events::ROUTES),
        Function::LandingPage => keys(landing::ROUTES),
    }
}
