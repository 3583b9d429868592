//! Claims: an item put only if no live one holds its key, so exactly one
//! request wins (a session's lock, a group call's fan-out, an
//! out-of-session reply).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{call_pk, FANOUT_SK, REPLY_PREFIX, REPLY_SK};
use super::{Index, IndexError};

/// Whether an expired claim still counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expired {
    /// DynamoDB deletes expired items lazily: a claim past its `expires_at`
    /// at `now` may be taken again.
    TakenOverAt(u64),
    /// Once claimed, claimed until DynamoDB removes the item.
    StillHeld,
}

impl Index<'_> {
    /// True the first time a group call's fan-out is claimed.
    pub async fn claim_fanout(&self, call_sid: &str, expires_at: u64) -> Result<bool, IndexError> {
        self.claim(call_pk(call_sid), FANOUT_SK, expires_at, Expired::StillHeld)
            .await
    }

    /// True when no out-of-session reply went to this pair (a digest of
    /// sender and pool number: no number is stored) before `expires_at`
    /// of the last one.
    pub async fn claim_reply(
        &self,
        pair_digest: &str,
        now: u64,
        expires_at: u64,
    ) -> Result<bool, IndexError> {
        self.claim(
            format!("{REPLY_PREFIX}{pair_digest}"),
            REPLY_SK,
            expires_at,
            Expired::TakenOverAt(now),
        )
        .await
    }

    /// Puts the claim item (`pk`, `sk`, `expires_at`) unless a claim holds
    /// its key: true when this request won it.
    pub(super) async fn claim(
        &self,
        pk: String,
        sk: &str,
        expires_at: u64,
        expired: Expired,
    ) -> Result<bool, IndexError> {
        self.count();
        let item = HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk)),
            ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            (
                "expires_at".to_owned(),
                AttributeValue::N(expires_at.to_string()),
            ),
        ]);
        match expired {
            Expired::TakenOverAt(now) => {
                self.put_if(
                    item,
                    "attribute_not_exists(pk) OR expires_at < :now",
                    Some(now),
                )
                .await
            }
            Expired::StillHeld => self.put_if(item, "attribute_not_exists(pk)", None).await,
        }
    }
}
