//! Creating a session: two sequential round trips on the happy path,
//! recovery from races and lost answers, and nothing left behind on failure.
//!
//! Wave 1, concurrently: what each participant holds (one index query each,
//! or Twilio's `ParticipantConversations` without an index) and the
//! conversation create.
//! Wave 2, concurrently: each participant added on their best free number,
//! with its index entry; the planned roster written into the conversation's
//! attributes; the session's index item.
//! A participant whose number was taken meanwhile (50416) moves to their
//! next candidate, and the roster and index are corrected. Any failure
//! deletes the conversation and its index entries.

use std::time::Duration;

use futures_util::future::{join, join3, join_all};
use serde_json::Value;

use super::bind::{IndexedAs, Plan};
use super::lookup::Summary;
use super::{expires_at, is_session, Session, SessionError, Sessions};
use crate::domain::roster::{RosterEntry, SessionRecord};
use crate::domain::session::NewSession;
use crate::events::EventType;
use crate::index::{Binding, IndexedParticipant, SessionItem};
use crate::metrics::Count;
use crate::twilio::{code, Conversation, ConversationParams, Participant, TwilioError};

/// Twilio allows about 30 participant writes per second per conversation.
const PARTICIPANT_WRITES_PER_SECOND: usize = 30;
/// How often a create whose answer was lost is tried again.
const LOST_ANSWER_RETRIES: usize = 2;
/// Extra time granted to delete a conversation after a failure.
pub const ROLLBACK_BUDGET: Duration = Duration::from_secs(3);
/// How long a create may still be running: the function's timeout (15 s,
/// the request and rollback budgets with headroom). A retry that finds a
/// half-made session younger than this waits instead of continuing it.
pub const CREATE_MAY_RUN_FOR: Duration = Duration::from_secs(15);

/// Who is asking: marks the conversation so a repeat can recognise it.
#[derive(Debug, Clone)]
pub struct CreateRequest {
    /// A nonce, or the fingerprint of an idempotent request.
    pub id: String,
    /// The conversation's unique name when an `Idempotency-Key` fixes it.
    pub idempotent_name: Option<String>,
    /// When this request began (unix seconds).
    pub started: u64,
    /// How long an earlier request with the same key may still be running.
    pub may_still_run: Duration,
}

#[derive(Debug)]
pub enum Created {
    New(Session),
    /// An earlier request with the same idempotency key made this session.
    Replayed(Session),
}

impl Sessions<'_> {
    /// Creates the conversation for `session` with every participant bound
    /// to a proxy from the configured pools.
    pub async fn create(
        &self,
        session: &NewSession,
        request: &CreateRequest,
    ) -> Result<Created, SessionError> {
        if session.record {
            self.recording_allowed()?;
        }
        let unique_name = request
            .idempotent_name
            .clone()
            .or_else(|| session.unique_name.clone())
            .unwrap_or_else(|| format!("mc-{}", request.id));
        let record = SessionRecord::new(&request.id, None)
            .started_at(request.started)
            .with_options(session.capabilities, session.record);
        let first_record = record.merged_into(&session.attributes);
        let params = ConversationParams {
            friendly_name: session.friendly_name.as_deref(),
            unique_name: Some(&unique_name),
            attributes: Some(&first_record),
            messaging_service_sid: session.messaging_service_sid.as_deref(),
            timers_inactive: session.timers.inactive.as_ref().map(|t| t.as_str()),
            timers_closed: session.timers.closed.as_ref().map(|t| t.as_str()),
            ..Default::default()
        };

        let (held, created) = join(
            self.holdings(&session.participants),
            self.create_once(&params, request),
        )
        .await;
        // Only what this request created is ever rolled back: a conversation
        // an earlier request made is the one that request may answer with.
        let (conversation, created_here) = match created? {
            Attempt::New(conversation) => (conversation, true),
            Attempt::Earlier(conversation) => match self.replay(conversation).await? {
                Replay::Complete(session) => return Ok(Created::Replayed(session)),
                Replay::Incomplete(conversation) => {
                    if let Some(retry_after) = still_running(&conversation, request) {
                        return Err(SessionError::IdempotencyInProgress { retry_after });
                    }
                    // Abandoned: finish it. Participants it already added are
                    // found, not added twice.
                    (conversation, false)
                }
            },
        };
        let sid = conversation.sid.clone();
        let indexed = IndexedAs {
            sid: sid.clone(),
            created: date_created(&conversation),
            expires_at: expires_at(&conversation),
        };

        let mut planned_bindings = Vec::new();
        let outcome = async {
            let mut held = held?;
            let mut plans: Vec<Plan<'_>> = Vec::with_capacity(session.participants.len());
            for (participant, holdings) in session.participants.iter().zip(held.iter_mut()) {
                let pinned = session
                    .pinned
                    .as_ref()
                    .filter(|(who, _)| who == participant)
                    .map(|(_, number)| number);
                plans.push(self.plan(participant, holdings, &sid, pinned).await?);
            }
            let planned: Vec<RosterEntry> = plans
                .iter()
                .map(|plan| RosterEntry::new(&plan.participant.to_string(), &plan.proxy()))
                .collect();
            planned_bindings.extend(planned.iter().map(|e| binding_of(e, &sid)));
            let planned_attributes = record
                .with_roster(planned.clone())
                .merged_into(&session.attributes);

            let adds = join_all(plans.iter_mut().enumerate().map(|(i, plan)| {
                let pace = Duration::from_secs((i / PARTICIPANT_WRITES_PER_SECOND) as u64);
                self.bind(plan, &indexed, pace)
            }));
            let roster_params = ConversationParams {
                attributes: Some(&planned_attributes),
                ..Default::default()
            };
            let roster_write = self.twilio.update_conversation(&sid, &roster_params);
            let summary = Summary::of(&conversation, &planned, &session.attributes);
            let index_write = self.index_session(&indexed, &planned, &summary);
            let (added, written, recorded) = join3(adds, roster_write, index_write).await;
            let participants = added.into_iter().collect::<Result<Vec<_>, _>>()?;
            let mut conversation = written?;
            recorded?;

            let actual = roster_of(&participants, &plans);
            if actual != planned {
                // A race moved someone to another number: the roster must say so.
                let corrected = record
                    .with_roster(actual.clone())
                    .merged_into(&session.attributes);
                let summary = Summary::of(&conversation, &actual, &session.attributes);
                let (written, recorded) = join(
                    self.twilio.update_conversation(
                        &sid,
                        &ConversationParams {
                            attributes: Some(&corrected),
                            ..Default::default()
                        },
                    ),
                    self.index_session(&indexed, &actual, &summary),
                )
                .await;
                conversation = written?;
                recorded?;
            }
            Ok(Session::new(conversation, participants))
        }
        .await;

        match outcome {
            Ok(session) => {
                self.metrics.count(Count::SessionsCreated);
                self.emit(
                    EventType::SessionCreated,
                    &sid,
                    Some("created"),
                    serde_json::json!({ "session": &session }),
                );
                Ok(Created::New(session))
            }
            Err(err) => {
                self.count_refusal(&err);
                if created_here {
                    self.roll_back(&sid, &indexed.created, &planned_bindings)
                        .await;
                } else {
                    tracing::warn!(session = %sid, error = %err, "could not finish a session an earlier request began; left as it is");
                }
                Err(err)
            }
        }
    }

    /// The session's index item (with its roster as it stands).
    async fn index_session(
        &self,
        indexed: &IndexedAs,
        roster: &[RosterEntry],
        summary: &Summary,
    ) -> Result<(), SessionError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let item = SessionItem::new(
            &indexed.sid,
            &indexed.created,
            roster
                .iter()
                .map(|e| IndexedParticipant {
                    address: e.address.clone(),
                    proxy: e.proxy.clone(),
                })
                .collect(),
            serde_json::to_string(summary).expect("a summary serialises"),
            indexed.expires_at,
        );
        Ok(index.put_session(&item).await?)
    }

    /// Creates the conversation exactly once, even when an answer is lost:
    /// the repeat carries the same unique name, so Twilio refuses a second
    /// copy, and the conversation it names is ours when it carries our
    /// request id.
    async fn create_once(
        &self,
        params: &ConversationParams<'_>,
        request: &CreateRequest,
    ) -> Result<Attempt, SessionError> {
        let unique_name = params
            .unique_name
            .expect("create always sets a unique name");
        let mut lost = 0;
        loop {
            match self.twilio.create_conversation(params).await {
                Ok(conversation) => return Ok(Attempt::New(conversation)),
                Err(e) if e.is_code(code::UNIQUE_NAME_TAKEN) => {
                    if lost == 0 && request.idempotent_name.is_none() {
                        return Err(SessionError::UniqueNameTaken);
                    }
                    let existing = self.twilio.fetch_conversation(unique_name).await?;
                    let ours = is_from(&existing, &request.id);
                    return match (ours, lost) {
                        (true, 0) => Ok(Attempt::Earlier(existing)),
                        (true, _) => Ok(Attempt::New(existing)),
                        (false, _) if request.idempotent_name.is_some() => {
                            Err(SessionError::IdempotencyConflict)
                        }
                        (false, _) => Err(SessionError::UniqueNameTaken),
                    };
                }
                Err(TwilioError::OutcomeUnknown(reason)) if lost < LOST_ANSWER_RETRIES => {
                    tracing::warn!(%reason, "conversation create answer lost; repeating with the same unique name");
                    lost += 1;
                }
                Err(TwilioError::OutcomeUnknown(reason)) => {
                    // It may exist: find and remove it so it holds nothing.
                    if let Ok(existing) = self.twilio.fetch_conversation(unique_name).await {
                        if is_from(&existing, &request.id) {
                            self.roll_back(&existing.sid, "", &[]).await;
                        }
                    }
                    return Err(TwilioError::Unavailable(reason).into());
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn replay(&self, conversation: Conversation) -> Result<Replay, TwilioError> {
        let participants = self.twilio.participants(&conversation.sid).await?;
        let roster = SessionRecord::read(&conversation.attributes).and_then(|r| r.roster);
        let complete = roster.is_some_and(|roster| {
            roster.len() == participants.len()
                && roster.iter().all(|entry| {
                    participants
                        .iter()
                        .any(|p| super::bind::bound_as(p, &entry.address, Some(&entry.proxy)))
                })
        });
        Ok(if complete {
            Replay::Complete(Session::new(conversation, participants))
        } else {
            Replay::Incomplete(conversation)
        })
    }

    /// Deletes a conversation this request created and its index entries,
    /// so it holds no pool numbers. The history entries its bindings wrote
    /// go too: those addresses never had those numbers after all.
    pub(crate) async fn roll_back(&self, sid: &str, created: &str, bindings: &[Binding]) {
        self.twilio.extend_deadline(ROLLBACK_BUDGET);
        let forget = async {
            self.forget(sid, bindings).await?;
            match &self.index {
                // The history entries they wrote go too.
                Some(index) => Ok(index.unbind(bindings, Some(created)).await?),
                None => Ok::<(), SessionError>(()),
            }
        };
        let (deleted, forgotten) = join(self.twilio.delete_conversation(sid), forget).await;
        match deleted {
            Ok(()) => tracing::info!(
                session = sid,
                "rolled back the conversation of a failed create"
            ),
            Err(e) => {
                tracing::error!(session = sid, error = %e, "could not delete the conversation of a failed create; it may hold pool numbers until deleted")
            }
        }
        if let Err(e) = forgotten {
            tracing::error!(session = sid, error = %e, "could not remove a failed create's index entries; the next exhaustion check repairs them");
        }
    }
}

enum Attempt {
    New(Conversation),
    /// Made by an earlier request with the same idempotency key.
    Earlier(Conversation),
}

/// What an earlier request with the same idempotency key left behind.
enum Replay {
    /// Every participant of its roster is in place: the session to return.
    Complete(Session),
    /// Half made: its request failed, or is still running.
    Incomplete(Conversation),
}

fn is_from(conversation: &Conversation, request_id: &str) -> bool {
    is_session(conversation)
        && SessionRecord::read(&conversation.attributes).is_some_and(|r| r.request == request_id)
}

/// How long to wait before retrying, when the request that began this
/// half-made session may still be running; `None` when it has had its time.
fn still_running(conversation: &Conversation, retry: &CreateRequest) -> Option<Duration> {
    let started = SessionRecord::read(&conversation.attributes)?.started?;
    let age = Duration::from_secs(retry.started.saturating_sub(started));
    retry
        .may_still_run
        .checked_sub(age)
        .filter(|left| !left.is_zero())
}

/// Who got which number, as Twilio answered the adds.
fn roster_of(participants: &[Participant], plans: &[Plan<'_>]) -> Vec<RosterEntry> {
    participants
        .iter()
        .zip(plans)
        .map(|(added, plan)| {
            let proxy = added
                .messaging_binding
                .as_ref()
                .and_then(|b| b.proxy_address.clone())
                .unwrap_or_default();
            RosterEntry::new(&plan.participant.to_string(), &proxy)
        })
        .collect()
}

fn binding_of(entry: &RosterEntry, sid: &str) -> Binding {
    Binding {
        address: entry.address.clone(),
        proxy: entry.proxy.clone(),
        sid: sid.to_owned(),
    }
}

/// Twilio's creation time of the conversation (ISO-8601, so text order is
/// time order).
pub(crate) fn date_created(conversation: &Conversation) -> String {
    conversation
        .other
        .get("date_created")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}
