//! The Lambda wiring every function shares: logs, the state built once per
//! execution environment, the HTTP runtime loop, and an internal extension
//! that runs the work queued for after each answer ([`crate::deferred`])
//! before Lambda freezes the environment.
//!
//! Lambda freezes an environment once both the runtime and every extension
//! ask for their next event; the extension asks only when that work is done,
//! so the caller has the answer and the work still finishes. Where there is
//! no Extensions API (local stand-ins), the work runs beside the runtime.

use std::sync::Arc;
use std::time::Duration;

use lambda_extension::{Extension, LambdaEvent, NextEvent};
use lambda_http::{service_fn, Body, Error, Request, Response};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Mutex;

use crate::app::AppState;
use crate::config::Function;
use crate::handlers::{conversation_events, inbound_call, landing, sessions};
use crate::logging;

/// Registering is a local call; a runtime without the Extensions API
/// answers at once or not at all.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `function` until Lambda ends the environment.
pub async fn run(function: Function) -> Result<(), Error> {
    logging::init();
    // One per process, for the process's whole life.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env(function).await?));
    let (answered, answers) = unbounded_channel::<()>();
    let after = after_each_answer(state, answers).await;
    let runtime = lambda_http::run(service_fn(move |req| {
        let answered = Answered(answered.clone());
        async move {
            let response = handle(function, state, req).await;
            drop(answered);
            Ok::<_, Error>(response)
        }
    }));
    match after {
        Some(extension) => {
            tokio::try_join!(runtime, extension)?;
            Ok(())
        }
        None => runtime.await,
    }
}

/// The function's handler.
pub async fn handle(function: Function, state: &AppState, req: Request) -> Response<Body> {
    match function {
        Function::Sessions => sessions::handle(state, req).await,
        Function::InboundCall => inbound_call::handle(state, req).await,
        Function::ConversationEvents => conversation_events::handle(state, req).await,
        Function::LandingPage => landing::handle(state, req).await,
    }
}

/// Says "this invocation has its answer" when dropped, also when the
/// handler panics, so the work after it never waits forever.
struct Answered(UnboundedSender<()>);

impl Drop for Answered {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

type AfterFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>>;

/// The internal extension's run loop, registered now (during init, as
/// Lambda requires); `None` when there is no Extensions API, in which case
/// a task beside the runtime does the work.
async fn after_each_answer(
    state: &'static AppState,
    answers: UnboundedReceiver<()>,
) -> Option<AfterFuture> {
    let answers = Arc::new(Mutex::new(answers));
    let processor = {
        let answers = answers.clone();
        service_fn(move |event: LambdaEvent| {
            let answers = answers.clone();
            async move {
                if let NextEvent::Invoke(_) = event.next {
                    answers.lock().await.recv().await;
                    state.run_deferred().await;
                }
                Ok::<(), Error>(())
            }
        })
    };
    let registering = Extension::new()
        .with_extension_name("masked-comms-after-answer")
        .with_events(&["INVOKE"])
        .with_events_processor(processor)
        .register();
    match tokio::time::timeout(REGISTER_TIMEOUT, registering).await {
        Ok(Ok(extension)) => Some(Box::pin(extension.run())),
        outcome => {
            let why = match outcome {
                Ok(Err(err)) => err.to_string(),
                _ => "no answer".to_owned(),
            };
            tracing::info!(%why, "no Extensions API: the work after each answer runs beside the runtime");
            tokio::spawn(async move {
                while answers.lock().await.recv().await.is_some() {
                    state.run_deferred().await;
                }
            });
            None
        }
    }
}
