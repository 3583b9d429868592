//! Lambda: the session API (`/sessions`).

use lambda_http::{run, service_fn, Error};
use masked_comms::config::Function;
use masked_comms::{handlers::sessions, logging, AppState};

#[tokio::main]
async fn main() -> Result<(), Error> {
    logging::init();
    let state = AppState::from_env(Function::Sessions).await?;
    run(service_fn(|req| async {
        Ok::<_, Error>(sessions::handle(&state, req).await)
    }))
    .await
}
