//! Asking the operator's backend about a text or call before it is
//! delivered (`intercept/url`): one signed POST, bounded in time and size.
//! Whatever goes wrong, `intercept/on-error` decides; every ask is logged
//! (outcome, failure kind, latency: never the body or a number) and
//! measured.

use std::time::Instant;

use crate::config::Config;
use crate::deferred::Deferred;
use crate::domain::intercept::{read_answer, Outcome, Question, Verdict, MAX_ANSWER_BYTES};
use crate::events::{AskError, Question as Signed};
use crate::metrics::Recorder;

/// `X-Masked-Comms-Event` on the question.
pub const INTERCEPT_EVENT: &str = "intercept";

/// The verdict on `question`, or `None` when no intercept is configured.
/// `id` names the question (the same on Twilio's retries of a call).
pub async fn ask(
    config: &Config,
    deferred: &Deferred,
    metrics: &Recorder,
    question: &Question<'_>,
    id: &str,
) -> Option<Verdict> {
    let settings = config.intercept.as_ref()?;
    let started = Instant::now();
    let answer = match (&config.events, deferred.sender()) {
        (Some(receiver), Some(sender)) => {
            let body = serde_json::to_vec(question).expect("a question serialises");
            let signed = Signed {
                url: &settings.url,
                secret: receiver.signing_secret.expose(),
                event: INTERCEPT_EVENT,
                id,
                body: &body,
            };
            sender
                .ask(&signed, settings.timeout, MAX_ANSWER_BYTES)
                .await
                .map_err(Failure::Asking)
                .and_then(|answer| read_answer(&answer, question.body).map_err(Failure::Reading))
        }
        // The configuration requires the events' secret; no sender means
        // the HTTP client could not be built (logged when it failed).
        _ => Err(Failure::Asking(AskError::Failed)),
    };
    let latency = started.elapsed();
    metrics.intercept_answered(latency);
    let kind = match question.kind {
        crate::domain::intercept::Kind::Message => "message",
        crate::domain::intercept::Kind::Call => "call",
    };
    let latency_ms = latency.as_millis() as u64;
    Some(match answer {
        Ok(verdict) => {
            let outcome = Outcome::of(&verdict);
            metrics.intercepted(outcome);
            tracing::info!(
                session = question.session,
                kind,
                outcome = outcome.as_str(),
                latency_ms,
                "the intercept answered"
            );
            verdict
        }
        Err(failure) => {
            metrics.intercepted(Outcome::Failed);
            let verdict = settings.on_error.verdict();
            tracing::warn!(
                session = question.session,
                kind,
                outcome = Outcome::Failed.as_str(),
                error = %failure,
                applied = ?verdict,
                latency_ms,
                "the intercept gave no usable answer; intercept/on-error decided"
            );
            verdict
        }
    })
}

/// Why the backend's word could not be had.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error("{0}")]
    Asking(AskError),
    #[error("{0}")]
    Reading(crate::domain::intercept::BadAnswer),
}
