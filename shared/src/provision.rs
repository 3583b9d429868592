//! Provisioning a session in Twilio: two sequential round trips on the happy
//! path, recovery from races and lost answers, and no orphan conversation on
//! failure.
//!
//! Wave 1, concurrently: list each participant's conversations (to know the
//! proxies they already hold) and create the conversation.
//! Wave 2, concurrently: add every participant on their best free proxy, and
//! write the planned roster into the conversation's attributes.
//! A participant whose proxy was taken meanwhile (50416) moves to their next
//! candidate; the roster is then corrected. Any failure deletes the conversation.

use std::time::Duration;

use futures_util::future::{join, join_all, try_join_all};
use serde::Serialize;

use crate::domain::address::Address;
use crate::domain::pool::{candidates, BoundProxies, Pool};
use crate::domain::roster::{RosterEntry, SessionRecord};
use crate::domain::session::NewSession;
use crate::privacy::Redacted;
use crate::twilio::{code, Conversation, ConversationParams, Participant, Twilio, TwilioError};

/// Twilio allows about 30 participant writes per second per conversation.
const PARTICIPANT_WRITES_PER_SECOND: usize = 30;
/// How often a create whose answer was lost is tried again.
const LOST_ANSWER_RETRIES: usize = 2;
/// Extra time granted to delete a conversation after a failure.
pub const ROLLBACK_BUDGET: Duration = Duration::from_secs(3);

/// A created session: the conversation in Twilio's shape plus its participants.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedSession {
    #[serde(flatten)]
    pub conversation: Conversation,
    pub participants: Vec<Participant>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProvisionError {
    #[error("no free proxy number for a participant")]
    PoolExhausted { address: String },
    #[error("the unique name is taken by another conversation")]
    UniqueNameTaken,
    #[error(transparent)]
    Twilio(#[from] TwilioError),
}

/// Creates the conversation for `session` with every participant bound to a
/// proxy from `pool`. `request_id` marks the conversation as this request's.
pub async fn provision(
    twilio: &Twilio<'_>,
    pool: &Pool,
    session: &NewSession,
    request_id: &str,
) -> Result<CreatedSession, ProvisionError> {
    let unique_name = session
        .unique_name
        .clone()
        .unwrap_or_else(|| format!("mc-{request_id}"));
    let first_record = SessionRecord::new(request_id, None).merged_into(&session.attributes);
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
    let (lists, created) = join(lists, create_once(twilio, &params, request_id)).await;
    let conversation = created?;
    let sid = conversation.sid.clone();

    let outcome = async {
        let held = lists?;
        let mut plans = Vec::with_capacity(session.participants.len());
        for (participant, conversations) in session.participants.iter().zip(&held) {
            let bound = BoundProxies::new(
                conversations
                    .iter()
                    .filter(|c| c.conversation_state.holds_bindings())
                    .filter_map(|c| c.proxy_address()),
            );
            let proxies: Vec<String> = candidates(pool, &bound)
                .into_iter()
                .map(|n| participant.proxy_on(n))
                .collect();
            if proxies.is_empty() {
                return Err(ProvisionError::PoolExhausted {
                    address: participant.to_string(),
                });
            }
            plans.push((participant, proxies));
        }
        let planned: Vec<RosterEntry> = plans
            .iter()
            .map(|(p, proxies)| RosterEntry::new(&p.to_string(), &proxies[0]))
            .collect();
        let planned_attributes =
            SessionRecord::new(request_id, Some(planned.clone())).merged_into(&session.attributes);

        let adds = join_all(plans.iter().enumerate().map(|(i, (participant, proxies))| {
            let pace = Duration::from_secs((i / PARTICIPANT_WRITES_PER_SECOND) as u64);
            add_with_fallback(twilio, &sid, participant, proxies, pace)
        }));
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
            .map(|(added, (participant, _))| {
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
            let corrected =
                SessionRecord::new(request_id, Some(actual)).merged_into(&session.attributes);
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
        Ok(CreatedSession {
            conversation,
            participants,
        })
    }
    .await;

    if outcome.is_err() {
        roll_back(twilio, &sid).await;
    }
    outcome
}

/// Creates the conversation exactly once, even when an answer is lost: the
/// repeat carries the same unique name, so Twilio refuses a second copy, and
/// the conversation it names is ours when it carries our request id.
async fn create_once(
    twilio: &Twilio<'_>,
    params: &ConversationParams<'_>,
    request_id: &str,
) -> Result<Conversation, ProvisionError> {
    let unique_name = params
        .unique_name
        .expect("provision always sets a unique name");
    let mut lost = 0;
    loop {
        match twilio.create_conversation(params).await {
            Ok(conversation) => return Ok(conversation),
            Err(e) if e.is_code(code::UNIQUE_NAME_TAKEN) => {
                if lost == 0 {
                    return Err(ProvisionError::UniqueNameTaken);
                }
                let existing = twilio.fetch_conversation(unique_name).await?;
                return if is_ours(&existing, request_id) {
                    Ok(existing)
                } else {
                    Err(ProvisionError::UniqueNameTaken)
                };
            }
            Err(TwilioError::OutcomeUnknown(reason)) if lost < LOST_ANSWER_RETRIES => {
                tracing::warn!(%reason, "conversation create answer lost; repeating with the same unique name");
                lost += 1;
            }
            Err(TwilioError::OutcomeUnknown(reason)) => {
                // It may exist: find and remove it so it holds nothing.
                if let Ok(existing) = twilio.fetch_conversation(unique_name).await {
                    if is_ours(&existing, request_id) {
                        roll_back(twilio, &existing.sid).await;
                    }
                }
                return Err(TwilioError::Unavailable(reason).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn is_ours(conversation: &Conversation, request_id: &str) -> bool {
    SessionRecord::read(&conversation.attributes).is_some_and(|r| r.request == request_id)
}

/// Adds one participant on their first free candidate proxy.
async fn add_with_fallback(
    twilio: &Twilio<'_>,
    sid: &str,
    participant: &Address,
    proxies: &[String],
    pace: Duration,
) -> Result<Participant, ProvisionError> {
    if !pace.is_zero() {
        tokio::time::sleep(pace).await;
    }
    let address = participant.to_string();
    let mut lost = 0;
    let mut next = 0;
    while let Some(proxy) = proxies.get(next) {
        match twilio.add_participant(sid, &address, proxy).await {
            Ok(added) => return Ok(added),
            Err(e) if e.is_code(code::BINDING_IN_USE) || e.is_code(code::BINDINGS_IN_USE) => {
                // Another session took this pair since we listed: try the next.
                tracing::debug!(address = %Redacted(&address), "proxy taken meanwhile; trying the next candidate");
                next += 1;
            }
            Err(TwilioError::OutcomeUnknown(reason)) => {
                // The add may have happened: look before repeating it.
                let existing = twilio.participants(sid).await?;
                if let Some(found) = existing.into_iter().find(|p| {
                    p.messaging_binding
                        .as_ref()
                        .is_some_and(|b| b.address.as_deref() == Some(address.as_str()))
                }) {
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
