//! Lambda: the session API (`/sessions`).

use lambda_http::Error;
use masked_comms::config::Function;

#[tokio::main]
async fn main() -> Result<(), Error> {
    masked_comms::lambda::run(Function::Sessions).await
}
