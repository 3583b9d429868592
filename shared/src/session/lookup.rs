//! Finding sessions: the one a call belongs to, and an address's list.
//!
//! With an index: one key read, then Twilio confirms (a call) or the
//! index's own summaries answer (a list). Without one, or when the index
//! has nothing (a session made before it existed, or by another tool),
//! Twilio's `ParticipantConversations` is paged as before.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{is_session, SessionError, Sessions};
use crate::config::Config;
use crate::domain::address::split_channel;
use crate::domain::capabilities::Capabilities;
use crate::domain::roster::{user_attributes, RosterEntry, SessionRecord};
use crate::index::{Binding, Index};
use crate::metrics::Count;
use crate::twilio::{Conversation, ConversationState, ParticipantConversation, TwilioError};

/// How long a call waits for the index before paging Twilio instead: a
/// healthy read takes milliseconds; a hung one must leave most of the
/// request budget for Twilio.
pub const CALL_INDEX_WAIT: Duration = Duration::from_secs(2);

/// The session a call belongs to, as Twilio says it is now.
#[derive(Debug, Clone)]
pub struct CallSession {
    pub sid: String,
    /// Who is in it and on which number; `None` when the record has no
    /// roster (then the participant list says).
    pub roster: Option<Vec<RosterEntry>>,
    pub capabilities: Capabilities,
    /// Whether its calls are recorded.
    pub record: bool,
    /// When its index items may expire, from Twilio's closed timer as the
    /// lookup read it (the call log moves them with it: no second read).
    pub expires_at: Option<u64>,
}

impl CallSession {
    fn of(sid: String, record: SessionRecord) -> Self {
        CallSession {
            sid,
            capabilities: record.capabilities,
            record: record.record,
            roster: record.roster,
            expires_at: None,
        }
    }
}

/// A session as `GET /sessions?address=` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub sid: String,
    pub unique_name: Option<String>,
    pub friendly_name: Option<String>,
    pub state: ConversationState,
    /// The caller's own attributes, as JSON text (ours left out).
    pub attributes: String,
    pub timers: Option<Value>,
    pub date_created: Option<String>,
    pub date_updated: Option<String>,
    pub participants: Vec<Value>,
    #[serde(default)]
    pub capabilities: Capabilities,
    #[serde(default)]
    pub record: bool,
}

impl Summary {
    /// From a conversation and the roster it has (or is about to have).
    pub fn of(
        conversation: &Conversation,
        roster: &[RosterEntry],
        user: &Map<String, Value>,
    ) -> Self {
        let record = SessionRecord::read(&conversation.attributes);
        let text = |name: &str| {
            conversation
                .other
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Summary {
            sid: conversation.sid.clone(),
            unique_name: conversation.unique_name.clone(),
            friendly_name: text("friendly_name"),
            state: conversation.state,
            attributes: Value::Object(user.clone()).to_string(),
            timers: conversation.other.get("timers").cloned(),
            date_created: text("date_created"),
            date_updated: text("date_updated"),
            participants: roster
                .iter()
                .map(|e| binding_json(&e.address, &e.proxy))
                .collect(),
            capabilities: record.as_ref().map(|r| r.capabilities).unwrap_or_default(),
            record: record.is_some_and(|r| r.record),
        }
    }

    /// From one item of `ParticipantConversations` (the roster supplies the
    /// other participants without more requests).
    fn of_listing(c: &ParticipantConversation) -> Self {
        let attributes = c.conversation_attributes.as_deref().unwrap_or("{}");
        let record = SessionRecord::read(attributes);
        let participants = match record.as_ref().and_then(|r| r.roster.clone()) {
            Some(roster) => roster
                .iter()
                .map(|e| binding_json(&e.address, &e.proxy))
                .collect(),
            None => c
                .participant_messaging_binding
                .iter()
                .filter_map(|b| {
                    Some(binding_json(
                        b.address.as_deref()?,
                        b.proxy_address.as_deref()?,
                    ))
                })
                .collect(),
        };
        Summary {
            sid: c.conversation_sid.clone(),
            unique_name: c.conversation_unique_name.clone(),
            friendly_name: c.conversation_friendly_name.clone(),
            state: c.conversation_state,
            attributes: Value::Object(user_attributes(attributes)).to_string(),
            timers: c.conversation_timers.clone(),
            date_created: c.conversation_date_created.clone(),
            date_updated: c.conversation_date_updated.clone(),
            participants,
            capabilities: record.as_ref().map(|r| r.capabilities).unwrap_or_default(),
            record: record.is_some_and(|r| r.record),
        }
    }
}

fn binding_json(address: &str, proxy: &str) -> Value {
    json!({ "messaging_binding": {
        "type": split_channel(address).0.as_str(),
        "address": address,
        "proxy_address": proxy,
    }})
}

/// Which sessions a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Open,
    /// Closed ones too: those are only in Twilio (the index forgets a
    /// session when it closes), so this pages Twilio.
    All,
}

/// A page of a list and where the next one starts.
#[derive(Debug, Clone)]
pub struct Page {
    pub sessions: Vec<Summary>,
    pub next: Option<Cursor>,
}

/// Where a page starts: the index's own position, or an offset into
/// Twilio's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    Index(String),
    Offset(usize),
}

impl Sessions<'_> {
    /// The open session in which `caller` is bound to `proxy`, confirmed by
    /// Twilio. A session Twilio says is closed never answers, whatever the
    /// index says; the index is repaired on the way.
    pub async fn for_call(
        &self,
        caller: &str,
        proxy: &str,
    ) -> Result<Option<CallSession>, SessionError> {
        if let Some(index) = &self.index {
            // Derived data: an index that cannot answer must not stop a call.
            match tokio::time::timeout(CALL_INDEX_WAIT, index.sessions_on(caller, proxy)).await {
                Ok(Ok(indexed)) => {
                    if let Some(found) = self.first_confirmed(&indexed).await? {
                        self.metrics.count(Count::IndexHits);
                        return Ok(Some(found));
                    }
                    // Nothing (or only stale entries): Twilio is paged after all.
                    self.metrics.count(Count::IndexMisses);
                }
                Ok(Err(err)) => self.index_unavailable(&err.to_string()),
                Err(_) => self.index_unavailable("no answer in time"),
            }
        }
        self.for_call_from_twilio(caller, proxy).await
    }

    /// The first of the index's sessions that Twilio confirms; entries of
    /// sessions Twilio has closed are removed on the way (a failed removal
    /// is left for the next close or exhaustion check).
    async fn first_confirmed(
        &self,
        indexed: &[Binding],
    ) -> Result<Option<CallSession>, SessionError> {
        for binding in indexed {
            if let Some(found) = self.confirmed(binding).await? {
                return Ok(Some(found));
            }
            let sid = &binding.sid;
            tracing::warn!(session = %sid, "the index named a session Twilio has closed; removing its entries");
            if let Err(err) = self.forget(sid, std::slice::from_ref(binding)).await {
                tracing::warn!(session = %sid, error = %err, "could not remove a closed session's index entries");
            }
        }
        Ok(None)
    }

    /// A call's index read failed: counted (an alarm watches it), and Twilio
    /// is paged as on a miss.
    fn index_unavailable(&self, why: &str) {
        tracing::warn!(error = %why, "the session index could not answer a call's lookup; paging Twilio");
        self.metrics.count(Count::IndexUnavailable);
    }

    /// The session, if Twilio has it open, ours, with this binding.
    async fn confirmed(&self, binding: &Binding) -> Result<Option<CallSession>, SessionError> {
        let conversation = match self.twilio.fetch_conversation(&binding.sid).await {
            Ok(conversation) => conversation,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !conversation.state.holds_bindings() || !is_session(&conversation) {
            return Ok(None);
        }
        let record = SessionRecord::read(&conversation.attributes).expect("checked by is_session");
        let expires_at = super::expires_at(&conversation);
        Ok(Some(CallSession {
            expires_at,
            ..CallSession::of(conversation.sid, record)
        }))
    }

    async fn for_call_from_twilio(
        &self,
        caller: &str,
        proxy: &str,
    ) -> Result<Option<CallSession>, SessionError> {
        let conversations = self.twilio.participant_conversations(caller).await?;
        // Twilio's pair rule makes this unique among non-closed conversations.
        let found = conversations.into_iter().find_map(|c| {
            let record = record_of(&c)?;
            (c.conversation_state.holds_bindings() && c.proxy_address() == Some(proxy)).then(|| {
                CallSession {
                    expires_at: super::expires_at_of(c.conversation_timers.as_ref()),
                    ..CallSession::of(c.conversation_sid.clone(), record)
                }
            })
        });
        Ok(found)
    }

    /// Everyone in the session and their numbers, from Twilio's participant
    /// list (when a record has no roster).
    pub async fn roster_from_participants(
        &self,
        sid: &str,
    ) -> Result<Vec<RosterEntry>, TwilioError> {
        Ok(self
            .twilio
            .participants(sid)
            .await?
            .iter()
            .filter_map(|p| {
                let binding = p.messaging_binding.as_ref()?;
                Some(RosterEntry::new(
                    binding.address.as_deref()?,
                    binding.proxy_address.as_deref()?,
                ))
            })
            .collect())
    }

    /// `address`'s sessions, newest first, `page_size` at most.
    pub async fn list(
        &self,
        address: &str,
        listing: Listing,
        page_size: usize,
        cursor: Option<Cursor>,
    ) -> Result<Page, SessionError> {
        match (&self.index, listing) {
            (Some(index), Listing::Open) => {
                let position = match &cursor {
                    Some(Cursor::Index(text)) => Some(text.as_str()),
                    _ => None,
                };
                let page = index.page(address, page_size, position).await?;
                let sessions = page
                    .sessions
                    .iter()
                    .filter_map(|item| serde_json::from_str::<Summary>(&item.summary).ok())
                    .collect();
                Ok(Page {
                    sessions,
                    next: page.next.map(Cursor::Index),
                })
            }
            _ => {
                let offset = match cursor {
                    Some(Cursor::Offset(offset)) => offset,
                    _ => 0,
                };
                self.list_from_twilio(address, listing, page_size, offset)
                    .await
            }
        }
    }

    async fn list_from_twilio(
        &self,
        address: &str,
        listing: Listing,
        page_size: usize,
        offset: usize,
    ) -> Result<Page, SessionError> {
        let mut conversations = self.twilio.participant_conversations(address).await?;
        // Only sessions: the address may be in other apps' conversations too.
        conversations.retain(|c| {
            (listing == Listing::All || c.conversation_state.holds_bindings())
                && record_of(c).is_some()
        });
        // Newest first; the sid breaks ties so pages are stable.
        conversations.sort_by(|a, b| {
            b.conversation_date_created
                .cmp(&a.conversation_date_created)
                .then_with(|| a.conversation_sid.cmp(&b.conversation_sid))
        });
        let sessions: Vec<Summary> = conversations
            .iter()
            .skip(offset)
            .take(page_size)
            .map(Summary::of_listing)
            .collect();
        let end = offset + sessions.len();
        Ok(Page {
            sessions,
            next: (end < conversations.len()).then_some(Cursor::Offset(end)),
        })
    }
}

/// Our record in a listed conversation: without one it is another app's
/// conversation, not a session.
fn record_of(c: &ParticipantConversation) -> Option<SessionRecord> {
    SessionRecord::read(c.conversation_attributes.as_deref()?)
}

/// How many open sessions one pool number carries (Twilio Proxy's `in_use`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PoolNumberUse {
    pub number: String,
    /// `None` without an index: only the index can count without paging.
    pub in_use: Option<usize>,
}

/// Every pool number (the WhatsApp pool's too) with the open sessions it
/// carries, counted by the index; without one, not counted. Needs no
/// Twilio request at all.
pub async fn pool_usage(
    config: &Config,
    index: Option<&Index<'_>>,
) -> Result<Vec<PoolNumberUse>, SessionError> {
    let mut numbers: Vec<&str> = config
        .pools()
        .iter()
        .flat_map(|pool| pool.numbers().iter().map(|n| n.as_str()))
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let counts = match index {
        Some(index) => index
            .pool_usage(&numbers, crate::domain::instant::unix_now())
            .await?
            .into_iter()
            .map(Some)
            .collect(),
        None => vec![None; numbers.len()],
    };
    Ok(numbers
        .into_iter()
        .zip(counts)
        .map(|(number, in_use)| PoolNumberUse {
            number: number.to_owned(),
            in_use,
        })
        .collect())
}
