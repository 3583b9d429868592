//! Adding a participant to a live session and removing one: the same
//! binding step as at create, and the roster, the index and Twilio kept in
//! step. Calls route to the new set at once, since calls read the roster.

use std::time::Duration;

use futures_util::future::{join, join3, join4};

use super::bind::IndexedAs;
use super::create::date_created;
use super::lookup::Summary;
use super::{expires_at, SessionError, Sessions};
use crate::domain::address::Address;
use crate::domain::roster::{user_attributes, RosterEntry, SessionRecord};
use crate::domain::session::MAX_PARTICIPANTS;
use crate::events::EventType;
use crate::index::{Binding, IndexedParticipant, SessionItem};
use crate::twilio::{Conversation, ConversationParams, Participant};

impl Sessions<'_> {
    /// Adds `participant` on their best free number; the roster and the
    /// index learn of them in the same wave as the add.
    pub async fn add_participant(
        &self,
        sid: &str,
        participant: &Address,
    ) -> Result<Participant, SessionError> {
        // The lock first: the roster read below is then the latest.
        let outcome = self
            .locked(sid, async || {
                let (conversation, held) = join(
                    self.fetch_session(sid),
                    self.holdings(std::slice::from_ref(participant)),
                )
                .await;
                let conversation = open(conversation?)?;
                let mut holdings = held?.remove(0);
                let record =
                    SessionRecord::read(&conversation.attributes).ok_or(SessionError::NotFound)?;
                let roster = record.roster.clone().unwrap_or_default();
                let address = participant.to_string();
                if roster.iter().any(|e| e.address == address) {
                    return Err(SessionError::ParticipantExists);
                }
                if roster.len() >= MAX_PARTICIPANTS {
                    return Err(SessionError::SessionFull);
                }
                let mut plan = self.plan(participant, &mut holdings, sid, None).await?;
                let mut planned = roster.clone();
                planned.push(RosterEntry::new(&address, &plan.proxy()));
                let indexed = IndexedAs {
                    sid: sid.to_owned(),
                    created: date_created(&conversation),
                    expires_at: expires_at(&conversation),
                };
                let (added, rostered, indexed_session) = join3(
                    self.bind(&mut plan, &indexed, Duration::ZERO),
                    self.write_roster(&conversation, &record, &planned),
                    self.index_roster(&conversation, &indexed, &planned),
                )
                .await;
                let added = added?;
                let written = rostered?;
                indexed_session?;
                let proxy = added
                    .messaging_binding
                    .as_ref()
                    .and_then(|b| b.proxy_address.clone())
                    .unwrap_or_default();
                if proxy != plan.proxy() {
                    // A race moved them to another number: the roster must say so.
                    let actual: Vec<RosterEntry> = roster
                        .iter()
                        .cloned()
                        .chain([RosterEntry::new(&address, &proxy)])
                        .collect();
                    let (rostered, indexed_session) = join(
                        self.write_roster(&written, &record, &actual),
                        self.index_roster(&written, &indexed, &actual),
                    )
                    .await;
                    rostered?;
                    indexed_session?;
                }
                self.emit(
                    EventType::ParticipantAdded,
                    sid,
                    Some(&added.sid),
                    serde_json::json!({ "participant": &added }),
                );
                Ok(added)
            })
            .await;
        if let Err(err) = &outcome {
            self.count_refusal(err);
        }
        outcome
    }

    /// Removes a participant: Twilio frees their (address, proxy) pair, and
    /// the roster and the index forget it, all in one wave.
    pub async fn remove_participant(
        &self,
        sid: &str,
        participant_sid: &str,
    ) -> Result<(), SessionError> {
        self.locked(sid, async || {
        let (conversation, participant) = join(
            self.fetch_session(sid),
            self.twilio.fetch_participant(sid, participant_sid),
        )
        .await;
        let conversation = open(conversation?)?;
        let participant = match participant {
            Ok(participant) => participant,
            Err(e) if e.is_not_found() => return Err(SessionError::NoSuchParticipant),
            Err(e) => return Err(e.into()),
        };
        let record = SessionRecord::read(&conversation.attributes).ok_or(SessionError::NotFound)?;
        let binding = participant.messaging_binding.as_ref();
        let address = binding.and_then(|b| b.address.clone()).unwrap_or_default();
        let proxy = binding
            .and_then(|b| b.proxy_address.clone())
            .unwrap_or_default();
            let remaining: Vec<RosterEntry> = record
                .roster
                .clone()
                .unwrap_or_default()
                .into_iter()
                .filter(|e| e.address != address)
                .collect();
            let indexed = IndexedAs {
                sid: sid.to_owned(),
                created: date_created(&conversation),
                expires_at: expires_at(&conversation),
            };
            let forget_binding = async {
                match &self.index {
                    Some(index) => {
                        let gone = Binding {
                            address: address.clone(),
                            proxy: proxy.clone(),
                            sid: sid.to_owned(),
                        };
                        let by_sid = [crate::index::ParticipantItem::key(sid, participant_sid)];
                        let (unbound, deleted) =
                            join(index.unbind(&[gone], None), index.delete(&by_sid)).await;
                        unbound?;
                        Ok(deleted?)
                    }
                    None => Ok::<(), SessionError>(()),
                }
            };
            let (removed, rostered, indexed_session, forgotten) = join4(
                self.twilio.delete_participant(sid, participant_sid),
                self.write_roster(&conversation, &record, &remaining),
                self.index_roster(&conversation, &indexed, &remaining),
                forget_binding,
            )
            .await;
            removed?;
            rostered?;
            indexed_session?;
            forgotten?;
            self.emit(
                EventType::ParticipantRemoved,
                sid,
                Some(participant_sid),
                serde_json::json!({ "participant": { "sid": participant_sid, "proxy_address": proxy } }),
            );
            Ok(())
        })
        .await
    }

    /// Writes `roster` into the conversation's attributes, keeping the rest
    /// of our record and the caller's own attributes.
    pub(crate) async fn write_roster(
        &self,
        conversation: &Conversation,
        record: &SessionRecord,
        roster: &[RosterEntry],
    ) -> Result<Conversation, SessionError> {
        let attributes = record
            .with_roster(roster.to_vec())
            .merged_into(&user_attributes(&conversation.attributes));
        Ok(self
            .twilio
            .update_conversation(
                &conversation.sid,
                &ConversationParams {
                    attributes: Some(&attributes),
                    ..Default::default()
                },
            )
            .await?)
    }

    /// The session's index item with this roster (nothing without an index).
    pub(crate) async fn index_roster(
        &self,
        conversation: &Conversation,
        indexed: &IndexedAs,
        roster: &[RosterEntry],
    ) -> Result<(), SessionError> {
        let Some(index) = &self.index else {
            return Ok(());
        };
        let summary = Summary::of(
            conversation,
            roster,
            &user_attributes(&conversation.attributes),
        );
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
            serde_json::to_string(&summary).expect("a summary serialises"),
            indexed.expires_at,
        );
        Ok(index.put_session(&item).await?)
    }
}

/// The conversation, if it can still change.
fn open(conversation: Conversation) -> Result<Conversation, SessionError> {
    if conversation.state.holds_bindings() {
        Ok(conversation)
    } else {
        Err(SessionError::Closed)
    }
}
