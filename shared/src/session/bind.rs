//! The binding step: what an address already holds, which pool number it
//! gets, and adding it to the conversation on that number. Create uses it
//! for every participant at once; adding a participant uses it for one.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::{join, join_all, try_join_all};

use super::{unix_now, SessionError, Sessions};
use crate::domain::address::{Address, PhoneNumber};
use crate::domain::geo::Location;
use crate::domain::pool::{candidates, Candidates, ProxyHistory};
use crate::index::Binding;
use crate::metrics::Count;
use crate::privacy::Redacted;
use crate::twilio::{code, Participant, ParticipantConversation, TwilioError};

/// How often a participant add whose answer was lost is tried again.
const LOST_ANSWER_RETRIES: usize = 2;

/// What an address holds: bindings in open sessions (never offered to it
/// again) and the proxies it had before, most recent first.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub bound: Vec<Binding>,
    pub earlier: Vec<String>,
}

impl Holdings {
    /// As number choice needs it, without the bindings of `this_session`
    /// (a retry finishing a half-made session must not count its own).
    fn history(&self, this_session: &str) -> ProxyHistory<'_> {
        ProxyHistory {
            bound: self
                .bound
                .iter()
                .filter(|b| b.sid != this_session)
                .map(|b| b.proxy.as_str())
                .collect(),
            earlier: self.earlier.iter().map(String::as_str).collect(),
        }
    }

    fn from_twilio(address: &str, conversations: &[ParticipantConversation]) -> Self {
        let mut closed: Vec<&ParticipantConversation> = conversations
            .iter()
            .filter(|c| !c.conversation_state.holds_bindings())
            .collect();
        // Twilio's timestamps share one format, so text order is time order.
        closed.sort_by(|a, b| {
            b.conversation_date_updated
                .cmp(&a.conversation_date_updated)
        });
        Holdings {
            bound: conversations
                .iter()
                .filter(|c| c.conversation_state.holds_bindings())
                .filter_map(|c| {
                    Some(Binding {
                        address: address.to_owned(),
                        proxy: c.proxy_address()?.to_owned(),
                        sid: c.conversation_sid.clone(),
                    })
                })
                .collect(),
            earlier: closed
                .iter()
                .filter_map(|c| c.proxy_address().map(str::to_owned))
                .collect(),
        }
    }
}

/// A participant's first choice of number and the rest, in order.
pub struct Plan<'p> {
    pub participant: &'p Address,
    pub first: PhoneNumber,
    /// The numbers to try when the first is taken meanwhile; none for a
    /// pinned participant.
    pub rest: Option<Candidates<'p>>,
}

impl Plan<'_> {
    pub fn proxy(&self) -> String {
        self.participant.proxy_on(&self.first)
    }
}

/// What the index records with each binding of a session.
#[derive(Debug, Clone)]
pub struct IndexedAs {
    pub sid: String,
    pub created: String,
    pub expires_at: Option<u64>,
}

impl<'a> Sessions<'a> {
    /// What each address holds: one index query each, or pages of Twilio's
    /// `ParticipantConversations` without an index. All at once.
    pub async fn holdings(&self, addresses: &[Address]) -> Result<Vec<Holdings>, SessionError> {
        try_join_all(addresses.iter().map(|address| self.holdings_of(address))).await
    }

    async fn holdings_of(&self, address: &Address) -> Result<Holdings, SessionError> {
        let address = address.to_string();
        match &self.index {
            Some(index) => {
                let mut entries = index.address(&address).await?;
                entries
                    .used
                    .sort_by_key(|(_, last_used)| std::cmp::Reverse(*last_used));
                Ok(Holdings {
                    bound: entries.bindings,
                    earlier: entries.used.into_iter().map(|(proxy, _)| proxy).collect(),
                })
            }
            None => {
                let conversations = self.twilio.participant_conversations(&address).await?;
                Ok(Holdings::from_twilio(&address, &conversations))
            }
        }
    }

    /// The participant's best free number and the rest, for `this_session`.
    /// When the index says nothing is free, the index may be behind (a lost
    /// close webhook): its bindings are checked against Twilio, stale ones
    /// removed, and the choice made again before the pool counts as
    /// exhausted.
    ///
    /// A `pinned` participant gets that number or nothing.
    pub async fn plan<'p>(
        &'p self,
        participant: &'p Address,
        holdings: &mut Holdings,
        this_session: &str,
        pinned: Option<&PhoneNumber>,
    ) -> Result<Plan<'p>, SessionError> {
        if let Some(number) = pinned {
            let proxy = participant.proxy_on(number);
            if holdings
                .bound
                .iter()
                .any(|b| b.proxy == proxy && b.sid != this_session)
            {
                return Err(SessionError::PoolExhausted {
                    address: participant.to_string(),
                });
            }
            return Ok(Plan {
                participant,
                first: number.clone(),
                rest: None,
            });
        }
        if let Some(plan) = self.choose(participant, holdings, this_session)? {
            return Ok(plan);
        }
        if self.index.is_some() && !holdings.bound.is_empty() {
            let stale = self.stale_sessions(&holdings.bound, this_session).await?;
            if !stale.is_empty() {
                holdings.bound.retain(|b| !stale.contains(&b.sid));
                if let Some(plan) = self.choose(participant, holdings, this_session)? {
                    return Ok(plan);
                }
            }
        }
        Err(SessionError::PoolExhausted {
            address: participant.to_string(),
        })
    }

    fn choose<'p>(
        &'p self,
        participant: &'p Address,
        holdings: &Holdings,
        this_session: &str,
    ) -> Result<Option<Plan<'p>>, SessionError> {
        let pool = self.config.pool_for(participant.channel())?;
        let location = Location::of(participant.number());
        let mut rest = candidates(
            pool,
            &location,
            &holdings.history(this_session),
            self.config.choice,
        );
        Ok(rest.next().map(|first| Plan {
            participant,
            first: first.clone(),
            rest: Some(rest),
        }))
    }

    /// The sessions among `bound` that Twilio says are gone or closed; their
    /// index entries are removed on the way.
    async fn stale_sessions(
        &self,
        bound: &[Binding],
        this_session: &str,
    ) -> Result<HashSet<String>, SessionError> {
        let sids: HashSet<&str> = bound
            .iter()
            .map(|b| b.sid.as_str())
            .filter(|sid| *sid != this_session)
            .collect();
        let checks = join_all(sids.iter().map(|sid| async move {
            match self.twilio.fetch_conversation(sid).await {
                Ok(conversation) => Ok((sid, !conversation.state.holds_bindings())),
                Err(e) if e.is_not_found() => Ok((sid, true)),
                Err(e) => Err(e),
            }
        }))
        .await;
        let mut stale = HashSet::new();
        for check in checks {
            let (sid, gone) = check?;
            if gone {
                let of_session: Vec<Binding> =
                    bound.iter().filter(|b| b.sid == *sid).cloned().collect();
                tracing::warn!(session = %sid, "the index held a closed session; removing its entries");
                self.forget(sid, &of_session).await?;
                stale.insert(sid.to_string());
            }
        }
        Ok(stale)
    }

    /// Adds the participant to conversation `sid` on their planned number,
    /// or the next free one if a concurrent session took it (50416), and
    /// records the binding in the index at the same time. Waits `pace`
    /// first (Twilio's participant write rate).
    pub async fn bind(
        &self,
        plan: &mut Plan<'_>,
        indexed: &IndexedAs,
        pace: Duration,
    ) -> Result<Participant, SessionError> {
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let planned = Binding {
            address: plan.participant.to_string(),
            proxy: plan.proxy(),
            sid: indexed.sid.clone(),
        };
        let record = async {
            match &self.index {
                Some(index) => {
                    index
                        .put_binding(&planned, &indexed.created, indexed.expires_at, unix_now())
                        .await
                }
                None => Ok(()),
            }
        };
        let (added, recorded) = join(self.add_with_fallback(&indexed.sid, plan), record).await;
        let added = added?;
        recorded?;
        let actual = added
            .messaging_binding
            .as_ref()
            .and_then(|b| b.proxy_address.clone())
            .unwrap_or_default();
        if actual != planned.proxy {
            // A race moved them to another number: the index must say so.
            if let Some(index) = &self.index {
                let moved = Binding {
                    proxy: actual,
                    ..planned.clone()
                };
                index
                    .put_binding(&moved, &indexed.created, indexed.expires_at, unix_now())
                    .await?;
                index
                    .delete(&[crate::index::ItemKey::of_binding(&planned)])
                    .await?;
            }
        }
        Ok(added)
    }

    async fn add_with_fallback(
        &self,
        sid: &str,
        plan: &mut Plan<'_>,
    ) -> Result<Participant, SessionError> {
        let address = plan.participant.to_string();
        let mut lost = 0;
        let mut number = plan.first.clone();
        loop {
            let proxy = plan.participant.proxy_on(&number);
            match self.twilio.add_participant(sid, &address, &proxy).await {
                Ok(added) => return Ok(added),
                Err(e) if e.is_code(code::BINDING_IN_USE) || e.is_code(code::BINDINGS_IN_USE) => {
                    // Another session took this pair since we looked: the next.
                    tracing::debug!(address = %Redacted(&address), "proxy taken meanwhile; trying the next candidate");
                    match plan.rest.as_mut().and_then(Iterator::next) {
                        Some(next) => {
                            self.metrics.count(Count::BindingFallbacks);
                            number = next.clone();
                        }
                        None => return Err(SessionError::PoolExhausted { address }),
                    }
                }
                Err(e) if e.is_code(code::PARTICIPANT_EXISTS) => {
                    // An earlier attempt with the same idempotency key added them.
                    if let Some(found) = self.find_participant(sid, &address).await? {
                        return Ok(found);
                    }
                    return Err(e.into());
                }
                Err(TwilioError::OutcomeUnknown(reason)) => {
                    // The add may have happened: look before repeating it.
                    if let Some(found) = self.find_participant(sid, &address).await? {
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
    }

    /// Counts a create or add the pool could not serve.
    pub(crate) fn count_refusal(&self, err: &SessionError) {
        if matches!(err, SessionError::PoolExhausted { .. }) {
            self.metrics.count(Count::PoolExhausted);
        }
    }

    /// The participant with this address, if the conversation has one.
    pub(crate) async fn find_participant(
        &self,
        sid: &str,
        address: &str,
    ) -> Result<Option<Participant>, TwilioError> {
        Ok(self
            .twilio
            .participants(sid)
            .await?
            .into_iter()
            .find(|p| bound_as(p, address, None)))
    }
}

/// Whether the participant has this address (and proxy, when given).
pub(crate) fn bound_as(participant: &Participant, address: &str, proxy: Option<&str>) -> bool {
    participant.messaging_binding.as_ref().is_some_and(|b| {
        b.address.as_deref() == Some(address)
            && proxy.is_none_or(|proxy| b.proxy_address.as_deref() == Some(proxy))
    })
}
