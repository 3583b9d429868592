//! Lambda: the operator's page (`GET /`).

use lambda_http::Error;
use masked_comms::config::Function;
use masked_comms::handlers::landing;

#[tokio::main]
async fn main() -> Result<(), Error> {
    masked_comms::lambda::run(Function::LandingPage, landing::handle).await
}
