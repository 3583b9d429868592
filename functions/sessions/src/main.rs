//! Lambda: the session API (`/sessions`).

use lambda_http::Error;
use masked_comms::config::Function;
use masked_comms::handlers::sessions;

#[tokio::main]
async fn main() -> Result<(), Error> {
    masked_comms::lambda::run(Function::Sessions, sessions::handle).await
}
