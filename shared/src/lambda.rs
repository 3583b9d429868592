//! The Lambda wiring every function shares: logs, the state built once per
//! execution environment, the HTTP runtime loop, and the work queued for
//! after each answer ([`crate::deferred`]).
//!
//! That work starts as soon as the handler has its answer, on a task beside
//! the runtime. An internal extension keeps Lambda from freezing the
//! environment before it is done: Lambda freezes once the runtime and every
//! extension ask for their next event, and the extension asks only when the
//! work of every invocation it was told of has finished. (Where there is no
//! Extensions API, or one that tells extensions late, as local stand-ins do,
//! the work still runs at once.)

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use lambda_extension::{Extension, LambdaEvent, NextEvent};
use lambda_http::{service_fn, Body, Error, Request, Response};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};
use tokio::sync::Notify;

use crate::after_answer::AfterAnswer;
use crate::app::AppState;
use crate::config::Function;
use crate::logging;

/// Registering is a local call; a runtime without the Extensions API
/// answers at once or not at all.
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs `function` with its `handler` until Lambda ends the environment.
///
/// Each binary names its own handler here, at compile time, so the linker
/// keeps only that handler (and, for the page, its assets) in the binary.
pub async fn run<H, F>(function: Function, handler: H) -> Result<(), Error>
where
    H: Fn(&'static AppState, Request) -> F + Copy + Send + 'static,
    F: Future<Output = Response<Body>> + Send,
{
    logging::init();
    // One per process, for the process's whole life.
    let state: &'static AppState = Box::leak(Box::new(AppState::from_env(function).await?));
    let (answered, answers) = unbounded_channel::<AfterAnswer>();
    let finished: &'static Finished = Box::leak(Box::default());
    tokio::spawn(work_after_answers(state, answers, finished));
    let extension = register_extension(finished).await;
    let runtime = lambda_http::run(service_fn(move |req| {
        // The work after the answer shares the invocation's deadline.
        let answered = Answered {
            to: answered.clone(),
            after: AfterAnswer::of_invocation(function, Instant::now()),
        };
        async move {
            let response = handler(state, req).await;
            drop(answered);
            Ok::<_, Error>(response)
        }
    }));
    match extension {
        Some(extension) => {
            tokio::try_join!(runtime, extension)?;
            Ok(())
        }
        None => runtime.await,
    }
}

/// Says "this invocation has its answer" (and what its after-answer work
/// may spend) when dropped, also when the handler panics, so the work after
/// it never waits forever.
struct Answered {
    to: UnboundedSender<AfterAnswer>,
    after: AfterAnswer,
}

impl Drop for Answered {
    fn drop(&mut self) {
        let _ = self.to.send(self.after);
    }
}

/// How many invocations' after-answer work has finished.
#[derive(Default)]
struct Finished {
    count: AtomicU64,
    changed: Notify,
}

impl Finished {
    async fn reach(&self, invocations: u64) {
        loop {
            let changed = self.changed.notified();
            if self.count.load(Ordering::Acquire) >= invocations {
                return;
            }
            changed.await;
        }
    }
}

/// Runs each invocation's queued work as soon as it has its answer.
async fn work_after_answers(
    state: &'static AppState,
    mut answers: UnboundedReceiver<AfterAnswer>,
    finished: &'static Finished,
) {
    while let Some(after) = answers.recv().await {
        // A panic in one invocation's work must not hold every later one.
        if std::panic::AssertUnwindSafe(state.after_answer(after))
            .catch_unwind()
            .await
            .is_err()
        {
            tracing::error!("the work after an answer panicked; it was abandoned");
        }
        finished.count.fetch_add(1, Ordering::AcqRel);
        finished.changed.notify_waiters();
    }
}

type ExtensionFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Error>> + Send>>;

/// The internal extension, registered now (during init, as Lambda
/// requires): for each invocation it is told of, it waits until that many
/// invocations' work has finished. `None` without an Extensions API.
async fn register_extension(finished: &'static Finished) -> Option<ExtensionFuture> {
    let told = Arc::new(AtomicU64::new(0));
    let processor = service_fn(move |event: LambdaEvent| {
        let told = told.clone();
        async move {
            if let NextEvent::Invoke(_) = event.next {
                let invocations = told.fetch_add(1, Ordering::AcqRel) + 1;
                finished.reach(invocations).await;
            }
            Ok::<(), Error>(())
        }
    });
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
            tracing::info!(%why, "no Extensions API: nothing holds the environment for the work after each answer");
            None
        }
    }
}
