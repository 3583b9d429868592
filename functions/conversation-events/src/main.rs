//! Lambda: `POST /conversation-events`, a Twilio webhook.

use lambda_http::{run, service_fn, Error};
use masked_comms::config::Function;
use masked_comms::{handlers::conversation_events, logging, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let state = AppState::from_env(Function::ConversationEvents).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(conversation_events::handle(&state, req).await)
    }))
    .await
}
