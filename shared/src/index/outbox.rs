//! Events whose delivery failed, kept for a later invocation to send.

use super::items::{OutboxItem, OUTBOX_PK};
use super::{Index, IndexError};

impl Index<'_> {
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
        self.first(OUTBOX_PK, limit).await
    }
}
