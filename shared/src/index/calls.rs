//! A session's call log, and the one way anything is written under a
//! session: only while the session is indexed, so a write racing its close
//! creates nothing (close removes the session item first).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use serde::Serialize;

use super::items::{CallItem, ItemKey};
use super::{encode, key_attributes, Index, IndexError};

/// Attempts of a guarded write that DynamoDB cancels for a conflicting
/// transaction on the same session (two calls logged at once).
const CONFLICT_ATTEMPTS: usize = 3;

impl Index<'_> {
    /// Records a call in its session's call log, if the session is still
    /// indexed: false (nothing written) once it closed.
    pub async fn put_call(&self, session: &str, call: &CallItem) -> Result<bool, IndexError> {
        self.put_under_session(session, call).await
    }

    /// Puts `item` in one transaction with a check that session `sid`'s
    /// item exists: false, and nothing written, when it does not.
    pub(super) async fn put_under_session(
        &self,
        sid: &str,
        item: &impl Serialize,
    ) -> Result<bool, IndexError> {
        let attributes: HashMap<String, AttributeValue> = encode(item)?;
        debug_assert!(attributes.contains_key("expires_at"), "every item expires");
        let check = ConditionCheck::builder()
            .table_name(self.table())
            .set_key(Some(key_attributes(&ItemKey::of_session(sid))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .expect("a check names its key and condition");
        let put = Put::builder()
            .table_name(self.table())
            .set_item(Some(attributes))
            .build()
            .expect("a put names its item");
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.count();
            let outcome = self
                .client()
                .transact_write_items()
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(check.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .send()
                .await;
            let Err(err) = outcome else {
                return Ok(true);
            };
            let reasons: Vec<String> = err
                .as_service_error()
                .and_then(|e| match e {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(c) => Some(c),
                    _ => None,
                })
                .map(|c| {
                    c.cancellation_reasons()
                        .iter()
                        .map(|r| r.code().unwrap_or_default().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            if reasons.iter().any(|code| code == "ConditionalCheckFailed") {
                return Ok(false);
            }
            if reasons.iter().any(|code| code == "TransactionConflict")
                && attempt < CONFLICT_ATTEMPTS
            {
                continue;
            }
            return Err(IndexError::from_sdk(err));
        }
    }

    /// One call of a session, if the log has it.
    pub async fn call(
        &self,
        session: &str,
        call_sid: &str,
    ) -> Result<Option<CallItem>, IndexError> {
        self.get(&CallItem::key(session, call_sid), true).await
    }
}
