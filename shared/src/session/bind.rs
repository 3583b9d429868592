//! The binding step: what an address already holds, which pool number it
//! gets, and adding it to the conversation on that number. Create uses it
//! for every participant at once; adding a participant uses it for one.

use std::collections::HashSet;
use std::time::Duration;

use futures_util::future::{join, try_join_all};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::{SessionError, Sessions};
use crate::domain::address::{Address, PhoneNumber};
use crate::domain::geo::Location;
use crate::domain::pool::{candidates, Candidates, ProxyHistory};
use crate::index::{AddressEntries, Binding, Index};
use crate::metrics::Count;
use crate::privacy::Redacted;
use crate::twilio::{code, Participant, ParticipantConversation, TwilioError};

/// How often a participant add whose answer was lost is tried again.
const LOST_ANSWER_RETRIES: usize = 2;
/// Index reads and Twilio fetches in flight at once when checking an
/// exhausted address's bindings.
const STALE_CHECKS_AT_ONCE: usize = 16;

/// What an address holds: proxies in open sessions (never offered to it
/// again) and the proxies it had before, most recent first.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    pub bound: Vec<Held>,
    pub earlier: Vec<String>,
    /// History entries to remove at the next write (see [`AddressEntries`]).
    pub outdated: Vec<String>,
}

/// A proxy an address holds, and in which session when the source says
/// (Twilio does; the index's holdings item names proxies only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub proxy: String,
    pub sid: Option<String>,
}

impl Holdings {
    /// As number choice needs it, without the bindings of `this_session`
    /// (a retry finishing a half-made session must not count its own).
    fn history(&self, this_session: &str) -> ProxyHistory<'_> {
        ProxyHistory {
            bound: self
                .bound
                .iter()
                .filter(|b| b.sid.as_deref() != Some(this_session))
                .map(|b| b.proxy.as_str())
                .collect(),
            earlier: self.earlier.iter().map(String::as_str).collect(),
        }
    }

    fn from_twilio(conversations: &[ParticipantConversation]) -> Self {
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
                    Some(Held {
                        proxy: c.proxy_address()?.to_owned(),
                        sid: Some(c.conversation_sid.clone()),
                    })
                })
                .collect(),
            earlier: closed
                .iter()
                .filter_map(|c| c.proxy_address().map(str::to_owned))
                .collect(),
            outdated: Vec::new(),
        }
    }

    fn from_index(entries: AddressEntries) -> Self {
        Holdings {
            bound: entries
                .bound
                .into_iter()
                .map(|proxy| Held { proxy, sid: None })
                .collect(),
            earlier: entries.used,
            outdated: entries.outdated,
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
    /// History entries of the participant's to remove with this write.
    pub outdated: Vec<String>,
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
            Some(index) => Ok(Holdings::from_index(index.address(&address).await?)),
            None => {
                let conversations = self.twilio.participant_conversations(&address).await?;
                Ok(Holdings::from_twilio(&conversations))
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
                .any(|b| b.proxy == proxy && b.sid.as_deref() != Some(this_session))
            {
                return Err(SessionError::PoolExhausted {
                    address: participant.to_string(),
                });
            }
            return Ok(Plan {
                participant,
                first: number.clone(),
                rest: None,
                outdated: holdings.outdated.clone(),
            });
        }
        if let Some(plan) = self.choose(participant, holdings, this_session)? {
            return Ok(plan);
        }
        if self.index.is_some() && !holdings.bound.is_empty() {
            let address = participant.to_string();
            let stale = self
                .stale_proxies(&address, &holdings.bound, this_session)
                .await?;
            if !stale.is_empty() {
                holdings.bound.retain(|b| !stale.contains(&b.proxy));
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
            outdated: holdings.outdated.clone(),
        }))
    }

    /// The proxies among `bound` that no open session holds any more, as
    /// Twilio says; their index entries are removed on the way. (Only when
    /// the index says the pool is exhausted for an address: it may be
    /// behind, after a lost close webhook.)
    async fn stale_proxies(
        &self,
        address: &str,
        bound: &[Held],
        this_session: &str,
    ) -> Result<HashSet<String>, SessionError> {
        let Some(index) = &self.index else {
            return Ok(HashSet::new());
        };
        // Which sessions hold each proxy: the pair's items say.
        let lookups: Vec<_> = bound
            .iter()
            .map(|held| sessions_holding(index, address, held))
            .collect();
        let located: Vec<(String, Vec<String>)> = stream::iter(lookups)
            .buffer_unordered(STALE_CHECKS_AT_ONCE)
            .try_collect()
            .await?;
        let sids: HashSet<&str> = located
            .iter()
            .flat_map(|(_, sids)| sids.iter().map(String::as_str))
            .filter(|sid| *sid != this_session)
            .collect();
        let checks: Vec<_> = sids.into_iter().map(|sid| self.is_gone(sid)).collect();
        let gone: HashSet<&str> = stream::iter(checks)
            .buffer_unordered(STALE_CHECKS_AT_ONCE)
            .try_collect::<Vec<(&str, bool)>>()
            .await?
            .into_iter()
            .filter_map(|(sid, gone)| gone.then_some(sid))
            .collect();
        for sid in &gone {
            let of_session: Vec<Binding> = located
                .iter()
                .filter(|(_, sids)| sids.iter().any(|s| s == sid))
                .map(|(proxy, _)| Binding {
                    address: address.to_owned(),
                    proxy: proxy.clone(),
                    sid: (*sid).to_owned(),
                })
                .collect();
            tracing::warn!(session = %sid, "the index held a closed session; removing its entries");
            self.forget(sid, &of_session).await?;
        }
        // A proxy is free again when every session said to hold it is gone
        // (or none is: a holdings entry without its pair's items).
        let stale: HashSet<String> = located
            .iter()
            .filter(|(_, sids)| {
                sids.iter()
                    .all(|s| s != this_session && gone.contains(s.as_str()))
            })
            .map(|(proxy, _)| proxy.clone())
            .collect();
        let unaccounted: Vec<String> = located
            .iter()
            .filter(|(_, sids)| sids.is_empty())
            .map(|(proxy, _)| proxy.clone())
            .collect();
        if !unaccounted.is_empty() {
            index.release(address, &unaccounted).await?;
        }
        Ok(stale)
    }

    /// Whether Twilio says session `sid` is closed or gone.
    async fn is_gone<'s>(&self, sid: &'s str) -> Result<(&'s str, bool), TwilioError> {
        match self.twilio.fetch_conversation(sid).await {
            Ok(conversation) => Ok((sid, !conversation.state.holds_bindings())),
            Err(e) if e.is_not_found() => Ok((sid, true)),
            Err(e) => Err(e),
        }
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
                        .put_binding(
                            &planned,
                            &indexed.created,
                            indexed.expires_at,
                            &plan.outdated,
                        )
                        .await
                }
                None => Ok(()),
            }
        };
        let mut taken = Vec::new();
        let (added, recorded) = join(
            self.add_with_fallback(
                &indexed.sid,
                &mut plan.rest,
                plan.participant,
                plan.first.clone(),
                &mut taken,
            ),
            record,
        )
        .await;
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
                let (put, unbound) = join(
                    index.put_binding(&moved, &indexed.created, indexed.expires_at, &[]),
                    index.unbind(std::slice::from_ref(&planned), Some(&indexed.created)),
                )
                .await;
                put?;
                unbound?;
                // Twilio said the address holds these elsewhere: the index
                // was behind, and learns it here.
                index.hold(&planned.address, &taken).await?;
            }
        }
        self.index_participant(indexed, &added).await?;
        Ok(added)
    }

    /// Adds `participant` on `number`, or on the next candidate of `rest`
    /// while Twilio says the pair is in use elsewhere (50416); those
    /// proxies are noted in `taken`.
    async fn add_with_fallback(
        &self,
        sid: &str,
        rest: &mut Option<Candidates<'_>>,
        participant: &Address,
        mut number: PhoneNumber,
        taken: &mut Vec<String>,
    ) -> Result<Participant, SessionError> {
        let address = participant.to_string();
        let mut lost = 0;
        loop {
            let proxy = participant.proxy_on(&number);
            match self.twilio.add_participant(sid, &address, &proxy).await {
                Ok(added) => return Ok(added),
                Err(e) if e.is_code(code::BINDING_IN_USE) || e.is_code(code::BINDINGS_IN_USE) => {
                    // Another session took this pair since we looked: the next.
                    tracing::debug!(address = %Redacted(&address), "proxy taken meanwhile; trying the next candidate");
                    taken.push(proxy);
                    match rest.as_mut().and_then(Iterator::next) {
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
        match err {
            SessionError::PoolExhausted { .. } => self.metrics.count(Count::PoolExhausted),
            SessionError::Index(_) => self.metrics.count(Count::IndexUnavailable),
            _ => {}
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

/// The sessions that hold `held`'s proxy for `address`: the one Twilio
/// named, or those its pair's index items name.
async fn sessions_holding(
    index: &Index<'_>,
    address: &str,
    held: &Held,
) -> Result<(String, Vec<String>), SessionError> {
    let sids = match &held.sid {
        Some(sid) => vec![sid.clone()],
        None => index
            .sessions_on(address, &held.proxy)
            .await?
            .into_iter()
            .map(|b| b.sid)
            .collect(),
    };
    Ok((held.proxy.clone(), sids))
}
