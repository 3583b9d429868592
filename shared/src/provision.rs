//! Provisioning a session in Twilio: two sequential round trips on the happy
//! path, recovery from races and lost answers, and no orphan conversation on
//! failure.
//!
//! Wave 1, concurrently: list each participant's conversations (to know the
//! proxies they hold and held) and create the conversation.
//! Wave 2, concurrently: add every participant on their best free proxy, and
//! write the planned roster into the conversation's attributes.
//! A participant whose proxy was taken meanwhile (50416) moves to their next
//! candidate; the roster is then corrected. Any failure deletes the conversation.

use std::time::Duration;

use futures_util::future::{join, join_all, try_join_all};
use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::domain::address::{Address, PhoneNumber};
use crate::domain::geo::Location;
use crate::domain::pool::{candidates, Candidates, ProxyHistory};
use crate::domain::roster::{RosterEntry, SessionRecord};
use crate::domain::session::NewSession;
use crate::privacy::Redacted;
use crate::twilio::{
    code, Conversation, ConversationParams, Participant, ParticipantConversation, Twilio,
    TwilioError,
};

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

/// A session: the conversation in Twilio's shape plus its participants.
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub participants: Vec<Participant>,
}

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
pub enum Provisioned {
    Created(Session),
    /// An earlier request with the same idempotency key made this session.
    Replayed(Session),
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no free proxy number for a participant")]
    PoolExhausted { address: String },
    #[error("the unique name is taken by another conversation")]
    UniqueNameTaken,
    #[error("the idempotency key was used for a different request")]
    IdempotencyConflict,
    #[error("a request with the same idempotency key may still be running")]
    IdempotencyInProgress { retry_after: Duration },
    #[error(transparent)]
    Twilio(#[from] TwilioError),
    #[error(transparent)]
    Configuration(#[from] ConfigError),
}

/// Creates the conversation for `session` with every participant bound to a
/// proxy from the configured pools.
pub async fn provision(
    twilio: &Twilio<'_>,
    config: &Config,
    session: &NewSession,
    request: &CreateRequest,
) -> Result<Provisioned, ProvisionError> {
    let unique_name = request
        .idempotent_name
        .clone()
        .or_else(|| session.unique_name.clone())
        .unwrap_or_else(|| format!("mc-{}", request.id));
    let record = SessionRecord::new(&request.id, None).started_at(request.started);
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

    let addresses: Vec<String> = session
        .participants
        .iter()
        .map(Address::to_string)
        .collect();
    let lists = try_join_all(
        addresses
            .iter()
            .map(|a| twilio.participant_conversations(a)),
    );
    let (lists, created) = join(lists, create_once(twilio, &params, request)).await;
    // Only what this request created is ever rolled back: a conversation an
    // earlier request made is the one that request may be answering with.
    let (conversation, created_here) = match created? {
        Created::New(conversation) => (conversation, true),
        Created::Earlier(conversation) => match replay(twilio, conversation).await? {
            Replay::Complete(session) => return Ok(Provisioned::Replayed(session)),
            Replay::Incomplete(conversation) => {
                if let Some(retry_after) = still_running(&conversation, request) {
                    return Err(ProvisionError::IdempotencyInProgress { retry_after });
                }
                // Abandoned: finish it. Participants it already added are
                // found, not added twice.
                (conversation, false)
            }
        },
    };
    let sid = conversation.sid.clone();

    let outcome = async {
        let held = lists?;
        let mut plans = Vec::with_capacity(session.participants.len());
        for (participant, conversations) in session.participants.iter().zip(&held) {
            // Bindings this very session holds (from an earlier attempt) are
            // the participant's own, not taken from them.
            let history = history_of(conversations, &sid);
            let pool = config.pool_for(participant.channel())?;
            let location = Location::of(participant.number());
            let mut proxies = candidates(pool, &location, &history, config.choice);
            let Some(first) = proxies.next() else {
                return Err(ProvisionError::PoolExhausted {
                    address: participant.to_string(),
                });
            };
            plans.push((participant, first, proxies));
        }
        let planned: Vec<RosterEntry> = plans
            .iter()
            .map(|(p, first, _)| RosterEntry::new(&p.to_string(), &p.proxy_on(first)))
            .collect();
        let planned_attributes = record
            .with_roster(planned.clone())
            .merged_into(&session.attributes);

        let adds = join_all(plans.iter_mut().enumerate().map(
            |(i, (participant, first, others))| {
                let pace = Duration::from_secs((i / PARTICIPANT_WRITES_PER_SECOND) as u64);
                add_with_fallback(twilio, &sid, participant, first, others, pace)
            },
        ));
        let roster_params = ConversationParams {
            attributes: Some(&planned_attributes),
            ..Default::default()
        };
        let roster_write = twilio.update_conversation(&sid, &roster_params);
        let (added, written) = join(adds, roster_write).await;
        let participants = added.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut conversation = written?;

        let actual: Vec<RosterEntry> = participants
            .iter()
            .zip(&plans)
            .map(|(added, (participant, _, _))| {
                let proxy = added
                    .messaging_binding
                    .as_ref()
                    .and_then(|b| b.proxy_address.clone())
                    .unwrap_or_default();
                RosterEntry::new(&participant.to_string(), &proxy)
            })
            .collect();
        if actual != planned {
            // A race moved someone to another number: the roster must say so.
            let corrected = record.with_roster(actual).merged_into(&session.attributes);
            conversation = twilio
                .update_conversation(
                    &sid,
                    &ConversationParams {
                        attributes: Some(&corrected),
                        ..Default::default()
                    },
                )
                .await?;
        }
        Ok(Session {
            conversation,
            participants,
        })
    }
    .await;

    match outcome {
        Ok(session) => Ok(Provisioned::Created(session)),
        Err(err) => {
            if created_here {
                roll_back(twilio, &sid).await;
            } else {
                tracing::warn!(session = %sid, error = %err, "could not finish a session an earlier request began; left as it is");
            }
            Err(err)
        }
    }
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

/// The proxies an address holds (non-closed conversations other than
/// `this_session`) and held (closed ones, most recent first).
fn history_of<'a>(
    conversations: &'a [ParticipantConversation],
    this_session: &str,
) -> ProxyHistory<'a> {
    let conversations: Vec<&ParticipantConversation> = conversations
        .iter()
        .filter(|c| c.conversation_sid != this_session)
        .collect();
    let mut closed: Vec<&ParticipantConversation> = conversations
        .iter()
        .copied()
        .filter(|c| !c.conversation_state.holds_bindings())
        .collect();
    // Twilio's timestamps share one format, so text order is time order.
    closed.sort_by(|a, b| {
        b.conversation_date_updated
            .cmp(&a.conversation_date_updated)
    });
    ProxyHistory {
        bound: conversations
            .iter()
            .filter(|c| c.conversation_state.holds_bindings())
            .filter_map(|c| c.proxy_address())
            .collect(),
        earlier: closed.iter().filter_map(|c| c.proxy_address()).collect(),
    }
}

/// What an earlier request with the same idempotency key left behind.
enum Replay {
    /// Every participant of its roster is in place: the session to return.
    Complete(Session),
    /// Half made: its request failed, or is still running.
    Incomplete(Conversation),
}

async fn replay(twilio: &Twilio<'_>, conversation: Conversation) -> Result<Replay, TwilioError> {
    let participants = twilio.participants(&conversation.sid).await?;
    let roster = SessionRecord::read(&conversation.attributes).and_then(|r| r.roster);
    let complete = roster.is_some_and(|roster| {
        roster.len() == participants.len()
            && roster.iter().all(|entry| {
                participants
                    .iter()
                    .any(|p| bound_as(p, &entry.address, Some(&entry.proxy)))
            })
    });
    Ok(if complete {
        Replay::Complete(Session {
            conversation,
            participants,
        })
    } else {
        Replay::Incomplete(conversation)
    })
}

/// Whether the participant has this address (and proxy, when given).
fn bound_as(participant: &Participant, address: &str, proxy: Option<&str>) -> bool {
    participant.messaging_binding.as_ref().is_some_and(|b| {
        b.address.as_deref() == Some(address)
            && proxy.is_none_or(|proxy| b.proxy_address.as_deref() == Some(proxy))
    })
}

/// The participant with this address, if the conversation has one.
async fn find_participant(
    twilio: &Twilio<'_>,
    sid: &str,
    address: &str,
) -> Result<Option<Participant>, TwilioError> {
    Ok(twilio
        .participants(sid)
        .await?
        .into_iter()
        .find(|p| bound_as(p, address, None)))
}

enum Created {
    New(Conversation),
    /// Made by an earlier request with the same idempotency key.
    Earlier(Conversation),
}

/// Creates the conversation exactly once, even when an answer is lost: the
/// repeat carries the same unique name, so Twilio refuses a second copy, and
/// the conversation it names is ours when it carries our request id.
async fn create_once(
    twilio: &Twilio<'_>,
    params: &ConversationParams<'_>,
    request: &CreateRequest,
) -> Result<Created, ProvisionError> {
    let unique_name = params
        .unique_name
        .expect("provision always sets a unique name");
    let mut lost = 0;
    loop {
        match twilio.create_conversation(params).await {
            Ok(conversation) => return Ok(Created::New(conversation)),
            Err(e) if e.is_code(code::UNIQUE_NAME_TAKEN) => {
                if lost == 0 && request.idempotent_name.is_none() {
                    return Err(ProvisionError::UniqueNameTaken);
                }
                let existing = twilio.fetch_conversation(unique_name).await?;
                let ours = is_from(&existing, &request.id);
                return match (ours, lost) {
                    (true, 0) => Ok(Created::Earlier(existing)),
                    (true, _) => Ok(Created::New(existing)),
                    (false, _) if request.idempotent_name.is_some() => {
                        Err(ProvisionError::IdempotencyConflict)
                    }
                    (false, _) => Err(ProvisionError::UniqueNameTaken),
                };
            }
            Err(TwilioError::OutcomeUnknown(reason)) if lost < LOST_ANSWER_RETRIES => {
                tracing::warn!(%reason, "conversation create answer lost; repeating with the same unique name");
                lost += 1;
            }
            Err(TwilioError::OutcomeUnknown(reason)) => {
                // It may exist: find and remove it so it holds nothing.
                if let Ok(existing) = twilio.fetch_conversation(unique_name).await {
                    if is_from(&existing, &request.id) {
                        roll_back(twilio, &existing.sid).await;
                    }
                }
                return Err(TwilioError::Unavailable(reason).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_from(conversation: &Conversation, request_id: &str) -> bool {
    SessionRecord::read(&conversation.attributes).is_some_and(|r| r.request == request_id)
}

/// Adds one participant on their first free candidate proxy.
async fn add_with_fallback(
    twilio: &Twilio<'_>,
    sid: &str,
    participant: &Address,
    first: &PhoneNumber,
    others: &mut Candidates<'_>,
    pace: Duration,
) -> Result<Participant, ProvisionError> {
    if !pace.is_zero() {
        tokio::time::sleep(pace).await;
    }
    let address = participant.to_string();
    let mut lost = 0;
    let mut current = Some(first);
    while let Some(number) = current {
        let proxy = participant.proxy_on(number);
        match twilio.add_participant(sid, &address, &proxy).await {
            Ok(added) => return Ok(added),
            Err(e) if e.is_code(code::BINDING_IN_USE) || e.is_code(code::BINDINGS_IN_USE) => {
                // Another session took this pair since we listed: try the next.
                tracing::debug!(address = %Redacted(&address), "proxy taken meanwhile; trying the next candidate");
                current = others.next();
            }
            Err(e) if e.is_code(code::PARTICIPANT_EXISTS) => {
                // An earlier attempt with the same idempotency key added them.
                if let Some(found) = find_participant(twilio, sid, &address).await? {
                    return Ok(found);
                }
                return Err(e.into());
            }
            Err(TwilioError::OutcomeUnknown(reason)) => {
                // The add may have happened: look before repeating it.
                if let Some(found) = find_participant(twilio, sid, &address).await? {
                    return Ok(found);
                }
                lost += 1;
                if lost > LOST_ANSWER_RETRIES {
                    return Err(TwilioError::Unavailable(reason).into());
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ProvisionError::PoolExhausted { address })
}

/// Deletes a conversation this request created, so it holds no pool numbers.
async fn roll_back(twilio: &Twilio<'_>, sid: &str) {
    twilio.extend_deadline(ROLLBACK_BUDGET);
    match twilio.delete_conversation(sid).await {
        Ok(()) => tracing::info!(
            session = sid,
            "rolled back the conversation of a failed create"
        ),
        Err(e) => {
            tracing::error!(session = sid, error = %e, "could not delete the conversation of a failed create; it may hold pool numbers until deleted")
        }
    }
}
