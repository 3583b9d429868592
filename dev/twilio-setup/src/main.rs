//! `twilio-setup` (`make twilio-setup`): see the library (`twilio_setup`).

use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    twilio_setup::cli::main(&args).await
}
