//! Lambda: `POST /conversation-events`, a Twilio webhook.

use lambda_http::Error;
use masked_comms::config::Function;
use masked_comms::handlers::conversation_events;

#[tokio::main]
async fn main() -> Result<(), Error> {
    masked_comms::lambda::run(Function::ConversationEvents, conversation_events::handle).await
}
