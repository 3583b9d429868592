//! The session index in DynamoDB: which sessions an address holds on which
//! proxy, so a call or a create reads one key however many sessions the
//! address has (Twilio answers that question only by paging).
//!
//! Derived data: Twilio stays the judge of bindings (its pair rule settles
//! races), the session service keeps the index in step on every change, and
//! entries found wrong are repaired where they are found.

pub mod access;
mod calls;
pub mod expiry;
pub mod items;
mod lifetime;
mod recordings;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, Select, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use base64::Engine;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use items::{
    address_pk, call_pk, history_entry, read_history_entry, session_pk, BindingItem, FANOUT_SK,
    LOCK_SK,
};
pub use items::{
    Binding, CallItem, CallParty, IndexedParticipant, ItemKey, OutboxItem, PendingRecording,
    SessionItem,
};
use items::{OUTBOX_PK, REPLY_PREFIX, REPLY_SK};

fn put_request(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("a put names its item"),
        )
        .build()
}

/// The `sids` string set of a pair's item (none when there is no item).
fn sids_of(item: Option<&HashMap<String, AttributeValue>>) -> Vec<String> {
    match item.and_then(|item| item.get("sids")) {
        Some(AttributeValue::Ss(sids)) => sids.clone(),
        _ => Vec::new(),
    }
}

/// A DynamoDB string set (never empty: callers only build one from values).
fn string_set(values: impl IntoIterator<Item = String>) -> AttributeValue {
    AttributeValue::Ss(values.into_iter().collect())
}

/// The environment variable naming the table; without it there is no index.
pub const TABLE_VARIABLE: &str = "SESSION_INDEX_TABLE";
const BY_CREATED: &str = "by-created";
const BY_PROXY: &str = "by-proxy";
/// DynamoDB takes at most this many keys per batch read or write.
const BATCH_WRITE: usize = 25;
const BATCH_READ: usize = 100;
/// Pool numbers counted at once for pool usage.
const COUNT_CONCURRENCY: usize = 16;
/// How long the index remembers that an address had a proxy: what sticky
/// number choice works from. Which numbers an address had, not with whom.
pub const HISTORY_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 60 * 60);
/// The most numbers an address's history keeps (the newest): sticky choice
/// needs the recent ones, and the holdings item must stay well inside
/// DynamoDB's 400 KB (the proxies held, about 12 bytes each, share it).
pub const HISTORY_KEPT: usize = 1_000;

#[derive(Debug, Clone, thiserror::Error)]
pub enum IndexError {
    #[error("the session index is unavailable: {0}")]
    Unavailable(String),
    #[error("the session index holds an item it cannot read: {0}")]
    Unreadable(String),
}

impl IndexError {
    fn from_sdk<E, R>(err: aws_sdk_dynamodb::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        IndexError::Unavailable(aws_sdk_dynamodb::error::DisplayErrorContext(err).to_string())
    }
}

/// The table and its client: built once per execution environment.
#[derive(Debug, Clone)]
pub struct SessionIndex {
    client: Client,
    table: String,
}

impl SessionIndex {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        SessionIndex {
            client,
            table: table.into(),
        }
    }

    /// The index named by [`TABLE_VARIABLE`], on the AWS configuration the
    /// function already loaded; `None` when the variable is unset (the
    /// functions then page Twilio, as without an index).
    pub fn from_env(aws: &aws_config::SdkConfig) -> Option<Self> {
        let table = std::env::var(TABLE_VARIABLE).ok()?;
        let table = table.trim();
        (!table.is_empty()).then(|| SessionIndex::new(Client::new(aws), table))
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Opens the connection to DynamoDB during init, so the first
    /// invocation's index read pays no TLS handshake: a query for a proxy
    /// number that cannot exist, on the one index every function's role may
    /// query. Whether it succeeds only matters to the log.
    pub async fn preconnect(&self) {
        let outcome = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(BY_PROXY)
            .key_condition_expression("proxy = :proxy")
            .expression_attribute_values(":proxy", AttributeValue::S("preconnect".into()))
            .select(Select::Count)
            .limit(1)
            .send()
            .await;
        if let Err(err) = outcome {
            tracing::info!(error = %IndexError::from_sdk(err), "could not reach the session index during init");
        }
    }

    /// The index for one invocation, counting its requests into `requests`.
    pub fn for_invocation<'a>(&'a self, requests: &'a AtomicUsize) -> Index<'a> {
        Index {
            index: self,
            requests,
        }
    }
}

/// One invocation's view of the index.
pub struct Index<'a> {
    index: &'a SessionIndex,
    requests: &'a AtomicUsize,
}

/// What the index holds for an address: the proxies it holds in open
/// sessions, and those it had (newest first, one per proxy, within
/// [`HISTORY_KEPT_FOR`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressEntries {
    pub bound: Vec<String>,
    pub used: Vec<String>,
    /// `used` entries that no longer count (older repeats of a proxy, or
    /// expired): removed when the address is next written.
    pub outdated: Vec<String>,
}

impl AddressEntries {
    /// From the holdings item's two sets; `cutoff` is the oldest creation
    /// date (ISO-8601) that still counts.
    fn read(bound: Vec<String>, used: Vec<String>, cutoff: &str) -> Self {
        let mut outdated = Vec::new();
        let mut entries = Vec::with_capacity(used.len());
        for raw in &used {
            match read_history_entry(raw) {
                Some((proxy, created)) => entries.push((proxy, created, raw)),
                None => outdated.push(raw.clone()),
            }
        }
        // Newest first: Twilio's dates compare as text.
        entries.sort_by(|a, b| b.1.cmp(a.1));
        let mut seen = std::collections::HashSet::new();
        let mut kept = Vec::new();
        for (proxy, created, raw) in entries {
            if created >= cutoff && kept.len() < HISTORY_KEPT && seen.insert(proxy) {
                kept.push(proxy.to_owned());
            } else {
                outdated.push(raw.clone());
            }
        }
        AddressEntries {
            bound,
            used: kept,
            outdated,
        }
    }
}

/// A page of an address's sessions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<SessionItem>,
    pub next: Option<String>,
}

impl Index<'_> {
    fn client(&self) -> &Client {
        &self.index.client
    }

    fn table(&self) -> &str {
        &self.index.table
    }

    fn count(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// What `address` holds and had: one read of one item, however many
    /// sessions it holds.
    pub async fn address(&self, address: &str) -> Result<AddressEntries, IndexError> {
        self.count();
        let answer = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&ItemKey::of_holdings(address))))
            .consistent_read(true)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        let mut item = answer.item.unwrap_or_default();
        let mut set = |name: &str| match item.remove(name) {
            Some(AttributeValue::Ss(values)) => values,
            _ => Vec::new(),
        };
        let (bound, used) = (set("bound"), set("used"));
        let cutoff = crate::domain::instant::iso8601(
            crate::session::unix_now().saturating_sub(HISTORY_KEPT_FOR.as_secs()),
        );
        Ok(AddressEntries::read(bound, used, &cutoff))
    }

    /// The sessions in which `address` is bound to `proxy`: one, unless the
    /// index is behind (a session closed without its entries removed) or a
    /// race is being settled. One read of the pair's item, however many
    /// sessions the address holds.
    pub async fn sessions_on(
        &self,
        address: &str,
        proxy: &str,
    ) -> Result<Vec<Binding>, IndexError> {
        self.count();
        let answer = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&ItemKey::of_pair(address, proxy))))
            .consistent_read(true)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        Ok(sids_of(answer.item.as_ref())
            .into_iter()
            .map(|sid| Binding {
                address: address.to_owned(),
                proxy: proxy.to_owned(),
                sid,
            })
            .collect())
    }

    /// Records a binding: its item, its session in its pair's item, and in
    /// the address's holdings the proxy and a history entry (sticky choice
    /// reads it for [`HISTORY_KEPT_FOR`]); `outdated` history entries go at
    /// the same time. Three or four requests, all at once.
    pub async fn put_binding(
        &self,
        binding: &Binding,
        created: &str,
        expires_at: Option<u64>,
        outdated: &[String],
    ) -> Result<(), IndexError> {
        let now = crate::session::unix_now();
        let expires_at = expiry::of_session(expires_at, now);
        let item = encode(&BindingItem::new(binding, created, Some(expires_at)))?;
        let mut requests = vec![put_request(item)];
        let pair = self.add_to_pair(binding, expires_at);
        let holdings = self.update_holdings(
            &binding.address,
            "ADD bound :bound, used :used SET expires_at = :expires",
            vec![
                (":bound", string_set([binding.proxy.clone()])),
                (
                    ":used",
                    string_set([history_entry(&binding.proxy, created)]),
                ),
                (
                    ":expires",
                    AttributeValue::N((now + HISTORY_KEPT_FOR.as_secs()).to_string()),
                ),
            ],
            Holdings::MadeIfMissing,
        );
        let prune = async {
            if outdated.is_empty() {
                return Ok(());
            }
            self.update_holdings(
                &binding.address,
                "DELETE used :old",
                vec![(":old", string_set(outdated.iter().cloned()))],
                Holdings::OnlyIfPresent,
            )
            .await
        };
        // Boxed: four SDK requests side by side make a future too large for
        // the stack of the deep call paths that await it (debug builds).
        let (written, paired, held, pruned) = futures_util::future::join4(
            Box::pin(self.write(&mut requests)),
            Box::pin(pair),
            Box::pin(holdings),
            Box::pin(prune),
        )
        .await;
        written.and(paired).and(held).and(pruned)
    }

    async fn add_to_pair(&self, binding: &Binding, expires_at: u64) -> Result<(), IndexError> {
        self.count();
        let key = ItemKey::of_pair(&binding.address, &binding.proxy);
        self.client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&key)))
            .update_expression("ADD sids :sid SET expires_at = :expires")
            .expression_attribute_values(":sid", string_set([binding.sid.clone()]))
            .expression_attribute_values(":expires", AttributeValue::N(expires_at.to_string()))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        Ok(())
    }

    /// Takes the binding's session out of its pair's item, removing the
    /// item when no session is left; answers whether another session still
    /// binds the pair (the winner of a race this binding lost).
    async fn remove_from_pair(&self, binding: &Binding) -> Result<bool, IndexError> {
        self.count();
        let key = key_attributes(&ItemKey::of_pair(&binding.address, &binding.proxy));
        let left = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key.clone()))
            .update_expression("DELETE sids :sid")
            // An item already gone (TTL, an earlier removal) is not made again.
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":sid", string_set([binding.sid.clone()]))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await;
        let left = match left {
            Ok(left) => left,
            Err(err) if is_condition_failure(&err) => return Ok(false),
            Err(err) => return Err(IndexError::from_sdk(err)),
        };
        if !sids_of(left.attributes.as_ref()).is_empty() {
            return Ok(true);
        }
        // A binding written meanwhile keeps the item.
        self.delete_if(key, "attribute_not_exists(sids)").await?;
        Ok(false)
    }

    /// Removes bindings: their items, their sessions from their pairs'
    /// items, and their proxies from each address's holdings unless another
    /// session still binds the same pair (the winner of a race this binding
    /// lost). With `created` (a create that failed), the history entries
    /// they wrote go too: those addresses never had those numbers after all.
    pub async fn unbind(
        &self,
        bindings: &[Binding],
        created: Option<&str>,
    ) -> Result<(), IndexError> {
        let keys: Vec<ItemKey> = bindings.iter().map(ItemKey::of_binding).collect();
        let (deleted, still_held) = futures_util::future::join(
            Box::pin(self.delete(&keys)),
            futures_util::future::try_join_all(
                bindings.iter().map(|b| Box::pin(self.remove_from_pair(b))),
            ),
        )
        .await;
        deleted?;
        let still_held = still_held?;
        let mut by_address: HashMap<&str, (Vec<String>, Vec<String>)> = HashMap::new();
        for (binding, held) in bindings.iter().zip(still_held) {
            let (bound, used) = by_address.entry(&binding.address).or_default();
            if !held {
                bound.push(binding.proxy.clone());
            }
            if let Some(created) = created {
                used.push(history_entry(&binding.proxy, created));
            }
        }
        // One update per address (a session has at most 50), all at once.
        futures_util::future::try_join_all(by_address.into_iter().map(
            |(address, (bound, used))| Box::pin(self.remove_from_holdings(address, bound, used)),
        ))
        .await?;
        Ok(())
    }

    /// Notes in `address`'s holdings that it holds `proxies` (Twilio said
    /// so where the index did not).
    pub async fn hold(&self, address: &str, proxies: &[String]) -> Result<(), IndexError> {
        if proxies.is_empty() {
            return Ok(());
        }
        self.update_holdings(
            address,
            "ADD bound :bound SET expires_at = :expires",
            vec![
                (":bound", string_set(proxies.iter().cloned())),
                (
                    ":expires",
                    AttributeValue::N(
                        (crate::session::unix_now() + HISTORY_KEPT_FOR.as_secs()).to_string(),
                    ),
                ),
            ],
            Holdings::MadeIfMissing,
        )
        .await
    }

    /// Removes `proxies` from `address`'s holdings: no open session holds
    /// them (their sessions' items were already gone).
    pub async fn release(&self, address: &str, proxies: &[String]) -> Result<(), IndexError> {
        if proxies.is_empty() {
            return Ok(());
        }
        self.update_holdings(
            address,
            "DELETE bound :bound",
            vec![(":bound", string_set(proxies.iter().cloned()))],
            Holdings::OnlyIfPresent,
        )
        .await
    }

    /// Takes proxies (and history entries) out of an address's holdings.
    /// When history goes too (a failed create), an item left with neither
    /// goes, so an address that never had a session leaves nothing behind;
    /// otherwise the item's TTL ends it with its history.
    async fn remove_from_holdings(
        &self,
        address: &str,
        bound: Vec<String>,
        used: Vec<String>,
    ) -> Result<(), IndexError> {
        match (bound.is_empty(), used.is_empty()) {
            (true, true) => return Ok(()),
            (false, true) => {
                return self
                    .update_holdings(
                        address,
                        "DELETE bound :bound",
                        vec![(":bound", string_set(bound))],
                        Holdings::OnlyIfPresent,
                    )
                    .await
            }
            (true, false) => {
                self.update_holdings(
                    address,
                    "DELETE used :used",
                    vec![(":used", string_set(used))],
                    Holdings::OnlyIfPresent,
                )
                .await?
            }
            (false, false) => {
                self.update_holdings(
                    address,
                    "DELETE bound :bound, used :used",
                    vec![(":bound", string_set(bound)), (":used", string_set(used))],
                    Holdings::OnlyIfPresent,
                )
                .await?
            }
        }
        // A create may have added to it meanwhile.
        self.delete_if(
            key_attributes(&ItemKey::of_holdings(address)),
            "attribute_not_exists(bound) AND attribute_not_exists(used)",
        )
        .await
    }

    /// Deletes the item if `condition` holds; a failed condition is fine.
    async fn delete_if(
        &self,
        key: HashMap<String, AttributeValue>,
        condition: &str,
    ) -> Result<(), IndexError> {
        self.count();
        let deleted = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key))
            .condition_expression(condition)
            .send()
            .await;
        match deleted {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(IndexError::from_sdk(err)),
        }
    }

    /// One atomic change of an address's holdings item. Only a change that
    /// sets `expires_at` may make a missing item: a removal from one that
    /// is gone leaves it gone.
    async fn update_holdings(
        &self,
        address: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
        missing: Holdings,
    ) -> Result<(), IndexError> {
        self.count();
        let outcome = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&ItemKey::of_holdings(address))))
            .update_expression(expression)
            .set_condition_expression(
                (missing == Holdings::OnlyIfPresent).then(|| "attribute_exists(pk)".to_owned()),
            )
            .set_expression_attribute_values(Some(
                values
                    .into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .collect(),
            ))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(err) if is_condition_failure(&err) => Ok(()),
            Err(err) => Err(IndexError::from_sdk(err)),
        }
    }

    /// Writes a session's item; one without a known closed timer still
    /// expires (see [`expiry::of_session`]).
    pub async fn put_session(&self, session: &SessionItem) -> Result<(), IndexError> {
        let session = SessionItem {
            expires_at: Some(expiry::of_session(
                session.expires_at,
                crate::session::unix_now(),
            )),
            ..session.clone()
        };
        self.put(&session).await
    }

    pub async fn session(&self, sid: &str) -> Result<Option<SessionItem>, IndexError> {
        self.count();
        let key = ItemKey::of_session(sid);
        let answer = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&key)))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        answer.item.map(decode).transpose()
    }

    /// Removes these items, in as few batches as DynamoDB allows.
    pub async fn delete(&self, keys: &[ItemKey]) -> Result<(), IndexError> {
        for chunk in keys.chunks(BATCH_WRITE) {
            let mut requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|key| {
                    WriteRequest::builder()
                        .delete_request(
                            DeleteRequest::builder()
                                .set_key(Some(key_attributes(key)))
                                .build()
                                .expect("a delete names its key"),
                        )
                        .build()
                })
                .collect();
            self.write(&mut requests).await?;
        }
        Ok(())
    }

    /// One batch of at most 25 writes; unprocessed ones (throttling) are
    /// sent again, the SDK backing off.
    async fn write(&self, requests: &mut Vec<WriteRequest>) -> Result<(), IndexError> {
        while !requests.is_empty() {
            self.count();
            let answer = self
                .client()
                .batch_write_item()
                .request_items(self.table(), std::mem::take(requests))
                .send()
                .await
                .map_err(IndexError::from_sdk)?;
            *requests = answer
                .unprocessed_items
                .and_then(|mut left| left.remove(self.table()))
                .unwrap_or_default();
        }
        Ok(())
    }

    /// Newest first, `limit` at most, after `cursor` (from an earlier page).
    pub async fn page(
        &self,
        address: &str,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<SessionPage, IndexError> {
        self.count();
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(BY_CREATED)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(address_pk(address)))
            .scan_index_forward(false)
            .limit(limit as i32)
            .set_exclusive_start_key(cursor.map(cursor_key))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        let sids: Vec<String> = answer
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode::<BindingItem>)
            .map(|item| item.map(|b| b.sid))
            .collect::<Result<_, _>>()?;
        let mut found = self.sessions(&sids).await?;
        // Newest first, as the page was read; a session already gone is left out.
        found.sort_by_key(|s| sids.iter().position(|sid| *sid == s.sid));
        Ok(SessionPage {
            sessions: found,
            next: answer.last_evaluated_key.map(|key| encode_cursor(&key)),
        })
    }

    async fn sessions(&self, sids: &[String]) -> Result<Vec<SessionItem>, IndexError> {
        let mut found = Vec::with_capacity(sids.len());
        for chunk in sids.chunks(BATCH_READ) {
            let mut keys: Vec<HashMap<String, AttributeValue>> = chunk
                .iter()
                .map(|sid| key_attributes(&ItemKey::of_session(sid)))
                .collect();
            keys.dedup();
            while !keys.is_empty() {
                self.count();
                let wanted = KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .build()
                    .expect("a read names its keys");
                let answer = self
                    .client()
                    .batch_get_item()
                    .request_items(self.table(), wanted)
                    .send()
                    .await
                    .map_err(IndexError::from_sdk)?;
                for item in answer
                    .responses
                    .and_then(|mut r| r.remove(self.table()))
                    .unwrap_or_default()
                {
                    found.push(decode(item)?);
                }
                keys = answer
                    .unprocessed_keys
                    .and_then(|mut left| left.remove(self.table()))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// How many sessions hold each pool number (Twilio Proxy's `in_use`).
    pub async fn pool_usage(&self, numbers: &[&str], now: u64) -> Result<Vec<usize>, IndexError> {
        let numbers: Vec<String> = numbers.iter().map(|n| n.to_string()).collect();
        stream::iter(numbers)
            .map(|number| async move { self.count_on(&number, now).await })
            .buffered(COUNT_CONCURRENCY)
            .try_collect()
            .await
    }

    async fn count_on(&self, number: &str, now: u64) -> Result<usize, IndexError> {
        let mut total = 0;
        let mut start = None;
        loop {
            self.count();
            let answer = self
                .client()
                .query()
                .table_name(self.table())
                .index_name(BY_PROXY)
                .key_condition_expression("proxy = :proxy")
                // Expired by TTL but not yet removed by DynamoDB: not in use.
                .filter_expression("attribute_not_exists(expires_at) OR expires_at > :now")
                .expression_attribute_values(":proxy", AttributeValue::S(number.to_owned()))
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(IndexError::from_sdk)?;
            total += answer.count.max(0) as usize;
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(total);
            }
        }
    }

    /// Claims session `sid` for one change of its roster, until `until`
    /// (unix seconds) at the latest: false while another request holds it.
    pub async fn lock_session(&self, sid: &str, now: u64, until: u64) -> Result<bool, IndexError> {
        self.count();
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(session_pk(sid))),
            ("sk".to_owned(), AttributeValue::S(LOCK_SK.to_owned())),
            (
                "expires_at".to_owned(),
                AttributeValue::N(until.to_string()),
            ),
        ]);
        self.put_if(
            item,
            "attribute_not_exists(pk) OR expires_at < :now",
            Some(now),
        )
        .await
    }

    pub async fn unlock_session(&self, sid: &str) -> Result<(), IndexError> {
        self.count();
        let key = ItemKey {
            pk: session_pk(sid),
            sk: LOCK_SK.to_owned(),
        };
        self.client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&key)))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        Ok(())
    }

    /// Keeps an event whose delivery failed, for a later invocation.
    pub async fn put_outbox(
        &self,
        event: &str,
        created: &str,
        expires_at: u64,
    ) -> Result<(), IndexError> {
        self.put(&OutboxItem {
            pk: OUTBOX_PK.to_owned(),
            sk: created.to_owned(),
            event: event.to_owned(),
            expires_at,
        })
        .await
    }

    /// The oldest events waiting, `limit` at most.
    pub async fn outbox(&self, limit: usize) -> Result<Vec<OutboxItem>, IndexError> {
        self.count();
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(OUTBOX_PK.to_owned()))
            .limit(limit as i32)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        answer
            .items
            .unwrap_or_default()
            .into_iter()
            .map(decode)
            .collect()
    }

    /// True the first time a group call's fan-out is claimed.
    pub async fn claim_fanout(&self, call_sid: &str, expires_at: u64) -> Result<bool, IndexError> {
        self.claim(call_pk(call_sid), FANOUT_SK, expires_at).await
    }

    /// True when no out-of-session reply went to this pair (an HMAC of
    /// sender and pool number keyed with the stack's secret,
    /// [`crate::reply_key`]: no number is stored, nor a hash that gives one
    /// away) before `expires_at` of the last one.
    pub async fn claim_reply(
        &self,
        pair_digest: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<bool, IndexError> {
        self.count();
        let item = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(format!("{REPLY_PREFIX}{pair_digest}")),
            ),
            ("sk".to_owned(), AttributeValue::S(REPLY_SK.to_owned())),
            (
                "expires_at".to_owned(),
                AttributeValue::N(expires_at.to_string()),
            ),
        ]);
        // DynamoDB deletes expired items lazily: an old one does not count.
        self.put_if(
            item,
            "attribute_not_exists(pk) OR expires_at < :now",
            Some(now),
        )
        .await
    }

    async fn claim(&self, pk: String, sk: &str, expires_at: u64) -> Result<bool, IndexError> {
        self.count();
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            (
                "expires_at".to_owned(),
                AttributeValue::N(expires_at.to_string()),
            ),
        ]);
        self.put_if(item, "attribute_not_exists(pk)", None).await
    }

    /// Puts `item` if `condition` holds (`:now` bound to `now` when given):
    /// false when it does not.
    async fn put_if(
        &self,
        item: HashMap<String, AttributeValue>,
        condition: &str,
        now: Option<u64>,
    ) -> Result<bool, IndexError> {
        match self
            .client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_values(now.map(|now| {
                HashMap::from([(":now".to_owned(), AttributeValue::N(now.to_string()))])
            }))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(err) => Err(IndexError::from_sdk(err)),
        }
    }

    async fn put(&self, item: &impl Serialize) -> Result<(), IndexError> {
        self.count();
        let attributes = encode(item)?;
        self.client()
            .put_item()
            .table_name(self.table())
            .set_item(Some(attributes))
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        Ok(())
    }

    /// Every item matching, across pages.
    async fn query(
        &self,
        condition: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<Vec<HashMap<String, AttributeValue>>, IndexError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let mut query = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression(condition)
                .set_exclusive_start_key(start);
            for (name, value) in values {
                query = query.expression_attribute_values(*name, value.clone());
            }
            let answer = query.send().await.map_err(IndexError::from_sdk)?;
            all.extend(answer.items.unwrap_or_default());
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(all);
            }
        }
    }
}

/// Whether the holdings item may be made by a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holdings {
    MadeIfMissing,
    OnlyIfPresent,
}

/// A write refused by its condition (not an outage).
fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

fn encode(item: &impl Serialize) -> Result<HashMap<String, AttributeValue>, IndexError> {
    serde_dynamo::to_item(item).map_err(|e| IndexError::Unreadable(e.to_string()))
}

fn decode<T: DeserializeOwned>(item: HashMap<String, AttributeValue>) -> Result<T, IndexError> {
    serde_dynamo::from_item(item).map_err(|e| IndexError::Unreadable(e.to_string()))
}

fn key_attributes(key: &ItemKey) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

/// A page's end as an opaque cursor: its key attributes (all strings), as
/// URL-safe base64 of JSON.
fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let plain: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(name, value)| Some((name.as_str(), value.as_s().ok()?.as_str())))
        .collect();
    let json = serde_json::to_vec(&plain).expect("strings serialise");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn cursor_key(cursor: &str) -> HashMap<String, AttributeValue> {
    let plain: HashMap<String, String> = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default();
    plain
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect()
}

/// Whether `cursor` is one this index issued for `address`'s list: the
/// session API checks before passing a client's cursor on.
pub fn cursor_belongs_to(cursor: &str, address: &str) -> bool {
    cursor_of(cursor, &address_pk(address))
}

/// The same for a session's call log.
pub fn cursor_belongs_to_session(cursor: &str, sid: &str) -> bool {
    cursor_of(cursor, &session_pk(sid))
}

fn cursor_of(cursor: &str, pk: &str) -> bool {
    let key = cursor_key(cursor);
    key.get("pk")
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        == Some(pk)
        && ["sk", "created"]
            .iter()
            .all(|name| key.get(*name).is_some_and(|v| v.as_s().is_ok()))
        && key.len() == 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_stay_with_their_address() {
        let key = HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(address_pk("+14155550101")),
            ),
            (
                "sk".to_owned(),
                AttributeValue::S("PROXY#+15005550001#CH1".to_owned()),
            ),
            (
                "created".to_owned(),
                AttributeValue::S("2026-12-02T10:00:00Z#CH1".to_owned()),
            ),
        ]);
        let cursor = encode_cursor(&key);
        assert_eq!(cursor_key(&cursor), key);
        assert!(cursor_belongs_to(&cursor, "+14155550101"));
        assert!(!cursor_belongs_to(&cursor, "+14155550102"));
        for foreign in ["", "!!", "e30", "bzQw"] {
            assert!(!cursor_belongs_to(foreign, "+14155550101"), "{foreign}");
        }
    }

    #[test]
    fn history_keeps_the_newest_numbers_only() {
        let used: Vec<String> = (0..HISTORY_KEPT + 5)
            .map(|i| {
                history_entry(
                    &format!("+1500555{i:04}"),
                    &format!("2026-11-{:02}T00:00:{:02}Z", 10 + i % 10, i % 60),
                )
            })
            .collect();
        let entries = AddressEntries::read(Vec::new(), used, "2026-11-01T00:00:00Z");
        assert_eq!(entries.used.len(), HISTORY_KEPT);
        assert_eq!(entries.outdated.len(), 5);
    }

    #[test]
    fn history_reads_newest_first_once_per_proxy_and_marks_the_rest_outdated() {
        let entries = AddressEntries::read(
            vec!["+15005550009".into()],
            vec![
                history_entry("+15005550001", "2026-11-01T00:00:00Z"),
                history_entry("+15005550002", "2026-11-20T00:00:00Z"),
                history_entry("+15005550001", "2026-11-25T00:00:00Z"),
                history_entry("+15005550003", "2026-09-01T00:00:00Z"),
                "not an entry".into(),
            ],
            "2026-11-02T00:00:00Z",
        );
        assert_eq!(entries.bound, ["+15005550009"]);
        assert_eq!(entries.used, ["+15005550001", "+15005550002"]);
        let mut outdated = entries.outdated.clone();
        outdated.sort();
        assert_eq!(
            outdated,
            [
                history_entry("+15005550001", "2026-11-01T00:00:00Z"),
                history_entry("+15005550003", "2026-09-01T00:00:00Z"),
                "not an entry".to_owned(),
            ]
        );
    }
}
