//! The table's own requests, shared by every part of the index: single
//! puts and conditional puts, batches, paged queries, and the item codec.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::items::ItemKey;
use super::{Index, IndexError, BATCH_WRITE};

pub(super) fn put_request(item: HashMap<String, AttributeValue>) -> WriteRequest {
    WriteRequest::builder()
        .put_request(
            PutRequest::builder()
                .set_item(Some(item))
                .build()
                .expect("a put names its item"),
        )
        .build()
}

impl Index<'_> {
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
    pub(super) async fn write(&self, requests: &mut Vec<WriteRequest>) -> Result<(), IndexError> {
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

    /// Deletes the item if `condition` holds; a failed condition is fine.
    pub(super) async fn delete_if(
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

    /// Puts `item` if `condition` holds (`:now` bound to `now` when given):
    /// false when it does not.
    pub(super) async fn put_if(
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

    pub(super) async fn put(&self, item: &impl Serialize) -> Result<(), IndexError> {
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

    /// One item by its key, decoded; `consistent` reads what every write
    /// before it wrote.
    pub(super) async fn get<T: DeserializeOwned>(
        &self,
        key: &ItemKey,
        consistent: bool,
    ) -> Result<Option<T>, IndexError> {
        self.count();
        let answer = self
            .client()
            .get_item()
            .table_name(self.table())
            .set_key(Some(key_attributes(key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(IndexError::from_sdk)?;
        answer.item.map(decode).transpose()
    }

    /// The first `limit` items of partition `pk` (a queue's oldest), decoded.
    pub(super) async fn first<T: DeserializeOwned>(
        &self,
        pk: &str,
        limit: usize,
    ) -> Result<Vec<T>, IndexError> {
        self.count();
        let answer = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
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

    /// Every item matching, across pages.
    pub(super) async fn query(
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

/// A write refused by its condition (not an outage).
pub(super) fn is_condition_failure<E, R>(err: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "ConditionalCheckFailedException")
}

pub(super) fn encode(item: &impl Serialize) -> Result<HashMap<String, AttributeValue>, IndexError> {
    serde_dynamo::to_item(item).map_err(|e| IndexError::Unreadable(e.to_string()))
}

pub(super) fn decode<T: DeserializeOwned>(
    item: HashMap<String, AttributeValue>,
) -> Result<T, IndexError> {
    serde_dynamo::from_item(item).map_err(|e| IndexError::Unreadable(e.to_string()))
}

pub(super) fn key_attributes(key: &ItemKey) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}
