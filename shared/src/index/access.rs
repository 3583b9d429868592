//! Which DynamoDB actions each index operation sends, and which operations
//! each function's code paths use: the one catalogue the IAM roles in
//! template.yaml are checked against (through the facts file,
//! [`crate::facts`]). An operation added to [`super::Index`] goes here with
//! its actions; the integration test `iam_facts` drives every function
//! through a proxy that records what DynamoDB was really sent, and fails on
//! an action its function does not declare.

use crate::config::Function;

/// A DynamoDB action, as IAM names it (`dynamodb:<name>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    GetItem,
    PutItem,
    UpdateItem,
    DeleteItem,
    BatchGetItem,
    BatchWriteItem,
    Query,
    /// A transaction: a check of one item and a put of another, all or
    /// nothing (IAM grants its parts: [`Action::iam`]).
    TransactWriteItems,
}

impl Action {
    /// What IAM must grant for it (each after `dynamodb:`).
    pub const fn iam(self) -> &'static [&'static str] {
        match self {
            Action::GetItem => &["GetItem"],
            Action::PutItem => &["PutItem"],
            Action::UpdateItem => &["UpdateItem"],
            Action::DeleteItem => &["DeleteItem"],
            Action::BatchGetItem => &["BatchGetItem"],
            Action::BatchWriteItem => &["BatchWriteItem"],
            Action::Query => &["Query"],
            Action::TransactWriteItems => &["ConditionCheckItem", "PutItem"],
        }
    }

    /// The name in the `X-Amz-Target` header (and in IAM, but for a
    /// transaction).
    pub const fn name(self) -> &'static str {
        match self {
            Action::TransactWriteItems => "TransactWriteItems",
            Action::GetItem => "GetItem",
            Action::PutItem => "PutItem",
            Action::UpdateItem => "UpdateItem",
            Action::DeleteItem => "DeleteItem",
            Action::BatchGetItem => "BatchGetItem",
            Action::BatchWriteItem => "BatchWriteItem",
            Action::Query => "Query",
        }
    }
}

/// The index's operations, named after [`super::Index`]'s methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Preconnect,
    Address,
    SessionsOn,
    PutBinding,
    Unbind,
    Hold,
    Release,
    PutSession,
    Session,
    Delete,
    Forget,
    Page,
    PoolUsage,
    LockSession,
    UnlockSession,
    PutCall,
    Call,
    PutOutbox,
    Outbox,
    ClaimFanout,
    ClaimReply,
    /// The session's items moved with its closed timer.
    PushOut,
    PutPendingRecording,
    PendingRecordings,
    PutRecordingDeletes,
    RecordingDeletes,
    RecordingsDeleted,
    /// A participant recorded by sid, under their session.
    PutParticipant,
    /// A session's participants by sid.
    Participants,
    /// A message in its session's log.
    PutMessage,
    /// A session's calls and messages.
    Interactions,
}

impl Operation {
    /// The DynamoDB actions the operation may send.
    pub const fn actions(self) -> &'static [Action] {
        use Action::*;
        match self {
            Operation::Preconnect
            | Operation::PoolUsage
            | Operation::Outbox
            | Operation::PendingRecordings
            | Operation::RecordingDeletes
            | Operation::Participants
            | Operation::Interactions => &[Query],
            // Checked against the session's own item, so nothing is
            // written under a session that is gone.
            Operation::PutCall | Operation::PutPendingRecording | Operation::PutMessage => {
                &[TransactWriteItems]
            }
            Operation::PushOut => &[Query, UpdateItem],
            Operation::PutRecordingDeletes | Operation::RecordingsDeleted => &[BatchWriteItem],
            Operation::Address | Operation::SessionsOn | Operation::Session | Operation::Call => {
                &[GetItem]
            }
            // The binding's item, its pair's item, the address's holdings.
            Operation::PutBinding => &[BatchWriteItem, UpdateItem],
            // Items, pairs and holdings; an emptied pair or holdings item goes.
            Operation::Unbind => &[BatchWriteItem, UpdateItem, DeleteItem],
            Operation::Hold | Operation::Release => &[UpdateItem],
            Operation::PutSession
            | Operation::PutParticipant
            | Operation::LockSession
            | Operation::PutOutbox
            | Operation::ClaimFanout
            | Operation::ClaimReply => &[PutItem],
            Operation::UnlockSession => &[DeleteItem],
            Operation::Delete => &[BatchWriteItem],
            // Everything under the session, then as Delete and Unbind.
            Operation::Forget => &[Query, BatchWriteItem, UpdateItem, DeleteItem],
            // The address's page of bindings, then their sessions' items.
            Operation::Page => &[Query, BatchGetItem],
        }
    }
}

/// The index operations `function`'s code paths use.
pub fn used_by(function: Function) -> &'static [Operation] {
    use Operation::*;
    match function {
        // Create, change, close and list sessions; the call log; events
        // kept and retried after the answer.
        Function::Sessions => &[
            Preconnect,
            Address,
            PutBinding,
            Unbind,
            Hold,
            Release,
            PutSession,
            Session,
            Forget,
            Page,
            LockSession,
            UnlockSession,
            Interactions,
            PutOutbox,
            Outbox,
            Delete,
            PutRecordingDeletes,
            RecordingDeletes,
            RecordingsDeleted,
            PutParticipant,
            Participants,
            PutMessage,
        ],
        // Calls (stale entries forgotten, group fan-out claimed), their log
        // and recordings, out-of-session replies and the sessions a
        // callback asks for; undelivered events kept (never retried here:
        // crate::after_answer).
        Function::InboundCall => &[
            Preconnect,
            SessionsOn,
            Forget,
            ClaimFanout,
            ClaimReply,
            Session,
            Call,
            PutCall,
            PutOutbox,
            Address,
            PutBinding,
            Unbind,
            Hold,
            Release,
            PutSession,
            PutParticipant,
            PushOut,
            PutPendingRecording,
            PendingRecordings,
            Delete,
            PutRecordingDeletes,
            RecordingDeletes,
            RecordingsDeleted,
        ],
        // A closed conversation's cleanup; its `session.closed` event kept
        // while the receiver is down, and the outbox retried.
        Function::ConversationEvents => &[
            Preconnect,
            Session,
            Participants,
            PutMessage,
            Forget,
            PutOutbox,
            Outbox,
            Delete,
            PutRecordingDeletes,
            RecordingDeletes,
            RecordingsDeleted,
        ],
        Function::LandingPage => &[Preconnect, PoolUsage],
    }
}

/// Every DynamoDB action `function` may send, sorted, once each.
pub fn actions_of(function: Function) -> Vec<Action> {
    let mut actions: Vec<Action> = used_by(function)
        .iter()
        .flat_map(|op| op.actions().iter().copied())
        .collect();
    actions.sort();
    actions.dedup();
    actions
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conversation_events_function_may_keep_events_in_the_outbox() {
        assert!(actions_of(Function::ConversationEvents).contains(&Action::PutItem));
    }

    #[test]
    fn the_landing_page_only_queries() {
        assert_eq!(actions_of(Function::LandingPage), vec![Action::Query]);
    }
}
