//! The after-answer runner, beside the runtime glue ([`crate::lambda`]):
//! runs what the handlers queued ([`crate::deferred`]) once the answer has
//! gone, in the same invocation, before the environment is frozen and
//! before the invocation's deadline ([`crate::after_answer`]). Then, where
//! allowed, the events and recording deletes earlier invocations kept.

mod recording_deletes;

use std::time::{Duration, Instant};

use futures_util::future::join_all;

use crate::after_answer::AfterAnswer;
use crate::app::AppState;
use crate::config::Config;
use crate::deferred::{call_data, CallStart, Job};
use crate::domain::instant::unix_now;
use crate::events::{Delivered, Event, EventSender, EventType};
use crate::http::Invocation;
use crate::index::{CallItem, CallParty, Index};

/// How long an undelivered event waits in the index for another try.
const OUTBOX_KEEPS: Duration = Duration::from_secs(3 * 24 * 60 * 60);
/// Waiting events retried after each invocation's own.
const OUTBOX_BATCH: usize = 10;

impl AppState {
    /// The work after an answer, as if its invocation had just begun (tests
    /// and benchmarks; Lambda runs [`AppState::after_answer`]).
    pub async fn run_deferred(&self) {
        self.after_answer(AfterAnswer::of_invocation(
            crate::config::Function::Sessions,
            Instant::now(),
        ))
        .await
    }

    /// Runs everything queued, then (with an index, where `after` allows it)
    /// events that earlier invocations could not deliver, all before the
    /// invocation's deadline.
    pub async fn after_answer(&self, after: AfterAnswer) {
        self.after_answer_at(after, Instant::now()).await
    }

    /// [`AppState::after_answer`] with the receiver's backoff read at `now`.
    pub async fn after_answer_at(&self, after: AfterAnswer, now: Instant) {
        let jobs = self.deferred.take();
        let Ok(config) = self.config.current().await else {
            return;
        };
        let work = self.run_jobs(&config, jobs, after, now);
        if tokio::time::timeout_at(after.deadline.into(), work)
            .await
            .is_err()
        {
            tracing::error!(
                "the work after an answer reached the invocation's deadline; the rest was dropped"
            );
        }
    }

    async fn run_jobs(&self, config: &Config, jobs: Vec<Job>, after: AfterAnswer, now: Instant) {
        let until = after.work_until();
        let invocation = Invocation::detached("(after the answer)");
        let index = self
            .index
            .as_ref()
            .map(|index| index.for_invocation(invocation.index_requests()));
        let mut events = Vec::new();
        let mut recordings = Vec::new();
        for job in jobs {
            match job {
                Job::Deliver(event) => events.push(event),
                Job::CallStarted(start) => {
                    if let Some(event) = self
                        .log_call_start(config, index.as_ref(), &invocation, until, start)
                        .await
                    {
                        events.push(event);
                    }
                }
                Job::DeleteRecordings(sids) => recordings.extend(sids),
                Job::LogMessages(session, items) => {
                    if let Some(index) = &index {
                        crate::session::messages::log_messages(index, &session, &items).await;
                    }
                }
            }
        }
        // Earlier failures first: a delete failing now is retried after
        // the next answer, not again at once.
        if let (Some(index), true) = (&index, after.retries_recording_deletes) {
            self.retry_recording_deletes(config, index, &invocation, until)
                .await;
        }
        if !recordings.is_empty() {
            self.delete_recordings(config, index.as_ref(), &invocation, until, &recordings)
                .await;
        }
        let Some(receiver) = &config.events else {
            return;
        };
        let Some(sender) = self.deferred.sender() else {
            return;
        };
        let backoff = &self.deferred.receiver_backoff;
        let wait = if !backoff.may_try(now) {
            Some("the receiver failed lately")
        } else if Instant::now() >= until {
            Some("the invocation's time is spent")
        } else {
            None
        };
        if let Some(why) = wait {
            // Kept untried, for an invocation with time and a receiver that answers.
            for event in &events {
                keep_for_later(index.as_ref(), event, why).await;
            }
            return;
        }
        if !deliver_all(sender, receiver, index.as_ref(), events, until).await {
            backoff.failed(now);
            return;
        }
        if let (Some(index), true) = (&index, after.retries_outbox) {
            match retry_outbox(sender, receiver, index, until).await {
                Some(false) => backoff.failed(now),
                Some(true) => backoff.recovered(),
                None => {}
            }
        }
    }

    /// The call's entry in the session's call log, and its event. The
    /// entry expires with its session and is written only while the
    /// session is indexed; a call also pushes the session's items out when
    /// Twilio's closed timer has moved past them; recordings that arrived
    /// before the entry are linked to it.
    async fn log_call_start(
        &self,
        config: &Config,
        index: Option<&Index<'_>>,
        invocation: &Invocation,
        until: Instant,
        start: CallStart,
    ) -> Option<Event> {
        let twilio = self.twilio_until(config, invocation, until).ok();
        // Participant sids name people in the log and the event: never numbers.
        let (participants, indexed) = futures_util::future::join(
            async {
                match &twilio {
                    Some(twilio) => twilio
                        .participants(&start.session)
                        .await
                        .unwrap_or_default(),
                    None => Vec::new(),
                }
            },
            async {
                match index {
                    Some(index) => index.session(&start.session).await,
                    None => Ok(None),
                }
            },
        )
        .await;
        let party = |(address, proxy): &(String, String)| CallParty {
            participant: participants
                .iter()
                .find(|p| crate::session::bind::bound_as(p, address, None))
                .map(|p| p.sid.clone()),
            proxy: proxy.clone(),
        };
        let key = CallItem::key(&start.session, &start.call_sid);
        let mut call = CallItem {
            pk: key.pk,
            sk: key.sk,
            created: CallItem::created_key(&start.started, &start.call_sid),
            call_sid: start.call_sid.clone(),
            started: start.started.clone(),
            from: party(&start.caller),
            to: start.callees.iter().map(party).collect(),
            kind: if start.conference {
                "conference"
            } else {
                "dial"
            }
            .to_owned(),
            status: "in-progress".to_owned(),
            recorded: start.recorded,
            duration: None,
            recording_sid: None,
            recording_url: None,
            expires_at: None,
        };
        let event = |call: &CallItem| {
            Some(Event::new(
                EventType::CallStarted,
                &start.session,
                Some(&start.call_sid),
                unix_now(),
                call_data(call),
            ))
        };
        let Some(index) = index else {
            return event(&call);
        };
        let indexed = match indexed {
            Ok(Some(indexed)) => indexed,
            Ok(None) => {
                tracing::info!(session = %start.session, "the session closed before its call was logged; not logged");
                return event(&call);
            }
            Err(err) => {
                tracing::error!(session = %start.session, error = %err, "could not log a call");
                return event(&call);
            }
        };
        let mut expires_at = crate::index::expiry::of_session(indexed.expires_at, unix_now());
        let needed = start.expires_at;
        if let Some(to) =
            needed.and_then(|needed| crate::index::expiry::push_out(indexed.expires_at, needed))
        {
            match index.push_out(&indexed, to).await {
                Ok(writes) => {
                    tracing::info!(session = %start.session, writes, "moved the session's index items with its closed timer");
                    expires_at = to;
                }
                Err(err) => {
                    tracing::error!(session = %start.session, error = %err, "could not move the session's index items with its closed timer")
                }
            }
        }
        call.expires_at = Some(expires_at);
        match index.put_call(&start.session, &call).await {
            Ok(true) => self.link_recordings(index, &start.session, &mut call).await,
            Ok(false) => {
                tracing::info!(session = %start.session, "the session closed before its call was logged; not logged")
            }
            Err(err) => {
                tracing::error!(session = %start.session, error = %err, "could not log a call")
            }
        }
        event(&call)
    }

    /// Recordings of this call whose callback came before its log entry:
    /// moved into the entry.
    async fn link_recordings(&self, index: &Index<'_>, session: &str, call: &mut CallItem) {
        let pending = match index.pending_recordings(session).await {
            Ok(pending) => pending,
            Err(err) => {
                // They stay under the session and go with it.
                tracing::warn!(%session, error = %err, "could not read the recordings waiting for their call");
                return;
            }
        };
        let Some(recording) = pending
            .into_iter()
            .find(|p| p.call_sid.as_deref() == Some(call.call_sid.as_str()))
        else {
            return;
        };
        call.recording_sid = Some(recording.recording_sid.clone());
        call.recording_url = recording.recording_url.clone();
        match index.put_call(session, call).await {
            Ok(true) => {
                let key = crate::index::ItemKey {
                    pk: recording.pk,
                    sk: recording.sk,
                };
                if let Err(err) = index.delete(&[key]).await {
                    tracing::warn!(%session, error = %err, "linked a recording to its call, but could not remove its waiting entry");
                }
            }
            Ok(false) => {}
            Err(err) => {
                tracing::warn!(%session, error = %err, "could not link a recording to its call; it stays under its session")
            }
        }
    }
}

async fn deliver_all(
    sender: &EventSender,
    receiver: &crate::config::EventReceiver,
    index: Option<&Index<'_>>,
    events: Vec<Event>,
    deadline: Instant,
) -> bool {
    let mut reachable = true;
    let results = join_all(
        events
            .iter()
            .map(|event| sender.deliver(receiver, event, deadline)),
    )
    .await;
    for (event, result) in events.iter().zip(results) {
        match result {
            Delivered::Yes => {}
            Delivered::Refused(status) => {
                tracing::error!(event = %event.id, kind = event.kind.as_str(), status, "the event receiver refused an event; it is not sent again");
            }
            Delivered::NotYet(problem) => {
                reachable = false;
                keep_for_later(index, event, &problem).await
            }
        }
    }
    reachable
}

async fn keep_for_later(index: Option<&Index<'_>>, event: &Event, problem: &str) {
    let Some(index) = index else {
        tracing::error!(event = %event.id, kind = event.kind.as_str(), %problem, "an event could not be delivered and, without the session index, is not kept");
        return;
    };
    let now = unix_now();
    let text = serde_json::to_string(event).expect("events serialise");
    let key = format!("{now:012}#{}", event.id);
    match index
        .put_outbox(&text, &key, now + OUTBOX_KEEPS.as_secs())
        .await
    {
        Ok(()) => {
            tracing::warn!(event = %event.id, kind = event.kind.as_str(), %problem, "an event could not be delivered yet; kept for the next invocation")
        }
        Err(err) => {
            tracing::error!(event = %event.id, error = %err, "an event could not be delivered nor kept")
        }
    }
}

/// Events earlier invocations could not deliver: the oldest few, removed
/// once delivered (or refused for good). Answers whether the receiver took
/// them (`None`: nothing was sent).
async fn retry_outbox(
    sender: &EventSender,
    receiver: &crate::config::EventReceiver,
    index: &Index<'_>,
    deadline: Instant,
) -> Option<bool> {
    let waiting = match index.outbox(OUTBOX_BATCH).await {
        Ok(waiting) => waiting,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the events waiting for delivery");
            return None;
        }
    };
    let mut answered = None;
    for item in waiting {
        if Instant::now() >= deadline {
            return answered;
        }
        let Ok(event) = serde_json::from_str::<Event>(&item.event) else {
            continue;
        };
        match sender.deliver(receiver, &event, deadline).await {
            Delivered::Yes | Delivered::Refused(_) => {
                answered = Some(true);
                let key = crate::index::ItemKey {
                    pk: item.pk.clone(),
                    sk: item.sk.clone(),
                };
                if let Err(err) = index.delete(&[key]).await {
                    tracing::warn!(event = %event.id, error = %err, "delivered, but could not remove it from the waiting events");
                }
            }
            Delivered::NotYet(_) => return Some(false),
        }
    }
    answered
}
