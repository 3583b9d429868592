//! The end of a session's items: forgotten at close, and pushed out while
//! the session is in use (so TTL only ever ends a session Twilio ended).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use futures_util::stream::{self, StreamExt, TryStreamExt};

use super::items::{
    session_pk, Binding, CallItem, ItemKey, PendingRecording, SessionItem, CALL_PREFIX, LOCK_SK,
    PENDING_RECORDING_PREFIX,
};
use super::{decode, key_attributes, Index, IndexError};

/// Expiry updates of one push-out in flight at once.
const PUSH_CONCURRENCY: usize = 8;

impl Index<'_> {
    /// Removes a session and every item about it: its own, its bindings
    /// (`bindings`, and those its session item lists), and what is stored
    /// under it (its call log, recordings waiting for their call). Answers
    /// the recordings found, which the caller deletes from Twilio.
    ///
    /// The session item goes first: every write under a session checks
    /// that it exists, so nothing is written under it after this, and the
    /// (consistent) read that follows finds everything there is.
    pub async fn forget(&self, sid: &str, bindings: &[Binding]) -> Result<Vec<String>, IndexError> {
        self.count();
        let removed = self
            .client()
            .delete_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&ItemKey::of_session(sid))))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        let mut every_binding = bindings.to_vec();
        if let Some(item) = removed.attributes.filter(|a| !a.is_empty()) {
            let session: SessionItem = decode(item)?;
            every_binding.extend(session.bindings.iter().map(|p| Binding {
                address: p.address.clone(),
                proxy: p.proxy.clone(),
                sid: sid.to_owned(),
            }));
        }
        let mut keys = Vec::new();
        let mut recordings = Vec::new();
        for item in self.under_session(sid).await? {
            let key: ItemKey = decode(item.clone())?;
            if key.sk.starts_with(CALL_PREFIX) {
                recordings.extend(decode::<CallItem>(item)?.recording_sid);
            } else if key.sk.starts_with(PENDING_RECORDING_PREFIX) {
                recordings.push(decode::<PendingRecording>(item)?.recording_sid);
            }
            keys.push(key);
        }
        recordings.sort();
        recordings.dedup();
        every_binding.sort_by(|a, b| (&a.address, &a.proxy).cmp(&(&b.address, &b.proxy)));
        every_binding.dedup();
        let (deleted, unbound) =
            futures_util::future::join(self.delete(&keys), self.unbind(&every_binding, None)).await;
        deleted.and(unbound)?;
        Ok(recordings)
    }

    /// Moves the expiry of `session`'s items to `to` (never earlier): its
    /// own item, what is stored under it (calls, waiting recordings), and
    /// per participant the binding, the pair and the holdings item. Answers
    /// how many writes it made: 1 + 3 × participants + items under it.
    pub async fn push_out(&self, session: &SessionItem, to: u64) -> Result<usize, IndexError> {
        let mut keys: Vec<ItemKey> = self
            .under_session(&session.sid)
            .await?
            .into_iter()
            .map(decode::<ItemKey>)
            .collect::<Result<Vec<_>, _>>()?
            .into_iter()
            // A lock ends when its holder is done, whatever the session.
            .filter(|key| key.sk != LOCK_SK)
            .collect();
        for participant in &session.bindings {
            let binding = Binding {
                address: participant.address.clone(),
                proxy: participant.proxy.clone(),
                sid: session.sid.clone(),
            };
            keys.push(ItemKey::of_binding(&binding));
            keys.push(ItemKey::of_pair(&binding.address, &binding.proxy));
            keys.push(ItemKey::of_holdings(&binding.address));
        }
        let writes = keys.len();
        stream::iter(keys)
            .map(|key| self.expire_no_sooner_than(key, to))
            .buffer_unordered(PUSH_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(writes)
    }

    /// Sets an existing item's `expires_at` to `to` unless it already ends
    /// later; a missing item stays missing.
    async fn expire_no_sooner_than(&self, key: ItemKey, to: u64) -> Result<(), IndexError> {
        self.count();
        let outcome = self
            .client()
            .update_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(&key)))
            .update_expression("SET expires_at = :to")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(expires_at) OR expires_at < :to)",
            )
            .expression_attribute_values(":to", AttributeValue::N(to.to_string()))
            .send()
            .await;
        match outcome {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(err) => Err(IndexError::from_sdk(err)),
        }
    }

    /// Every item stored under session `sid`, its own included (read
    /// consistently: after its session item is gone, nothing more can
    /// appear).
    async fn under_session(
        &self,
        sid: &str,
    ) -> Result<Vec<HashMap<String, AttributeValue>>, IndexError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            self.count();
            let answer = self
                .client()
                .query()
                .table_name(self.table())
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(session_pk(sid)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(IndexError::from_sdk)?;
            all.extend(answer.items.unwrap_or_default());
            start = answer.last_evaluated_key;
            if start.is_none() {
                return Ok(all);
            }
        }
    }
}
