//! The session index in DynamoDB: which sessions an address holds on which
//! proxy, so a call or a create reads one key however many sessions the
//! address has (Twilio answers that question only by paging).
//!
//! Derived data: Twilio stays the judge of bindings (its pair rule settles
//! races), the session service keeps the index in step on every change, and
//! entries found wrong are repaired where they are found.

pub mod access;
mod bindings;
mod calls;
mod claims;
mod cursor;
pub mod expiry;
pub mod items;
mod lifetime;
mod messages;
mod outbox;
mod recordings;
mod sessions;
mod table;

use std::sync::atomic::{AtomicUsize, Ordering};

use aws_sdk_dynamodb::types::{AttributeValue, Select};
use aws_sdk_dynamodb::Client;

pub use bindings::AddressEntries;
pub use cursor::{cursor_belongs_to, cursor_belongs_to_session};
pub use items::{
    Binding, CallItem, CallParty, IndexedParticipant, ItemKey, OutboxItem, PendingRecording,
    SessionItem,
};
pub use messages::{Logged, MessageItem, ParticipantItem};
pub use sessions::SessionPage;
// The siblings' shared helpers, under the names they have always used.
use cursor::{cursor_key, encode_cursor};
use table::{decode, encode, key_attributes, put_request};

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
}
