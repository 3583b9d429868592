//! Lambda: `POST /inbound-call`, a Twilio webhook.

use lambda_http::Error;
use masked_comms::config::Function;
use masked_comms::handlers::inbound_call;

#[tokio::main]
async fn main() -> Result<(), Error> {
    masked_comms::lambda::run(Function::InboundCall, inbound_call::handle).await
}
