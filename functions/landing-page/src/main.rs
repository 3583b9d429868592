//! Lambda: the operator's page (`GET /`).

use lambda_http::{run, service_fn, Error};
use masked_comms::config::Function;
use masked_comms::{handlers::landing, logging, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let state = AppState::from_env(Function::LandingPage).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(landing::handle(&state, req).await)
    }))
    .await
}
