//! Sessions' own items: a session's record, the pages of an address's
//! sessions, how many sessions hold each pool number, and the session lock.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes, Select};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::claims::Expired;
use super::cursor::{cursor_key, encode_cursor};
use super::items::{address_pk, session_pk, BindingItem, ItemKey, SessionItem, LOCK_SK};
use super::table::{decode, key_attributes};
use super::{expiry, Index, IndexError, BATCH_READ, BY_CREATED, BY_PROXY, COUNT_CONCURRENCY};

/// A page of an address's sessions, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPage {
    pub sessions: Vec<SessionItem>,
    pub next: Option<String>,
}

impl Index<'_> {
    /// Writes a session's item; one without a known closed timer still
    /// expires (see [`expiry::of_session`]).
    pub async fn put_session(&self, session: &SessionItem) -> Result<(), IndexError> {
        let session = SessionItem {
            expires_at: Some(expiry::of_session(
                session.expires_at,
                crate::domain::instant::unix_now(),
            )),
            ..session.clone()
        };
        self.put(&session).await
    }

    pub async fn session(&self, sid: &str) -> Result<Option<SessionItem>, IndexError> {
        self.get(&ItemKey::of_session(sid), false).await
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
        self.claim(session_pk(sid), LOCK_SK, until, Expired::TakenOverAt(now))
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
}
