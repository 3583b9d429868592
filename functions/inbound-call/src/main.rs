//! Lambda: `POST /inbound-call`, a Twilio webhook.

use lambda_http::{run, service_fn, Error};
use masked_comms::config::Function;
use masked_comms::{handlers::inbound_call, logging, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let state = AppState::from_env(Function::InboundCall).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(inbound_call::handle(&state, req).await)
    }))
    .await
}
