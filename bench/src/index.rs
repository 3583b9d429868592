//! The session index for the busy-participant scenario: a table made by
//! `dev/session_index.py` (exactly as template.yaml declares it) in moto, and
//! sessions seeded into it item by item, as the session service writes them
//! (`shared/src/index/items.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use masked_comms::domain::roster::{RosterEntry, SessionRecord};
use masked_comms::index::items::{history_entry, holdings_item, pair_item, BindingItem};
use masked_comms::index::{Binding, IndexedParticipant, SessionItem};
use masked_comms::session::lookup::Summary;
use masked_comms::twilio::ConversationState;
use serde_json::{json, Map, Value};

/// DynamoDB takes at most this many items per BatchWriteItem.
pub const BATCH_WRITE: usize = 25;

/// A DynamoDB client for a local endpoint, with throwaway credentials.
pub fn dynamodb_client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing", "testing", None, None, "bench",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// `dev/session_index.py` in this repository.
pub fn table_tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dev/session_index.py")
}

/// Creates `table` at `endpoint` with `python dev/session_index.py create`
/// (`python` being the venv's, which has the tool's dependencies).
pub async fn create_table(python: &Path, endpoint: &str, table: &str) -> Result<(), String> {
    let output = tokio::process::Command::new(python)
        .arg(table_tool())
        .args(["create", "--endpoint", endpoint, "--table", table])
        .output()
        .await
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !output.status.success() {
        return Err(format!(
            "dev/session_index.py create {table} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Our record in a conversation's attributes, with this roster of
/// (address, proxy) pairs: what a create writes, so a call finds the session
/// from its roster.
pub fn session_attributes(roster: &[(String, String)]) -> String {
    let roster = roster
        .iter()
        .map(|(address, proxy)| RosterEntry::new(address, proxy))
        .collect();
    SessionRecord::new("seeded", Some(roster)).merged_into(&Map::new())
}

/// The index items of one open session, as the session service writes them
/// at create: per participant its binding and its pair's item, and the
/// session item with its summary. (Each address's holdings item gathers
/// every session's: [`holdings_items`].)
pub fn session_items(
    sid: &str,
    created: &str,
    roster: &[(String, String)],
) -> Result<Vec<HashMap<String, AttributeValue>>, String> {
    let mut items = Vec::with_capacity(2 * roster.len() + 1);
    for (address, proxy) in roster {
        let binding = Binding {
            address: address.clone(),
            proxy: proxy.clone(),
            sid: sid.to_owned(),
        };
        items.push(encode(&BindingItem::new(&binding, created, None))?);
        items.push(pair_item(address, proxy, vec![sid.to_owned()], None));
    }
    let summary = Summary {
        sid: sid.to_owned(),
        unique_name: None,
        friendly_name: None,
        state: ConversationState::Active,
        attributes: "{}".into(),
        timers: None,
        date_created: Some(created.to_owned()),
        date_updated: Some(created.to_owned()),
        participants: roster
            .iter()
            .map(|(address, proxy)| {
                json!({ "messaging_binding": {
                    "type": "sms", "address": address, "proxy_address": proxy,
                }})
            })
            .collect::<Vec<Value>>(),
        capabilities: Default::default(),
        record: false,
    };
    let session = SessionItem::new(
        sid,
        created,
        roster
            .iter()
            .map(|(address, proxy)| IndexedParticipant {
                address: address.clone(),
                proxy: proxy.clone(),
            })
            .collect(),
        serde_json::to_string(&summary).map_err(|e| e.to_string())?,
        None,
    );
    items.push(encode(&session)?);
    Ok(items)
}

/// Each address's holdings item for these sessions' rosters (all created
/// at `created`): the proxies it holds, and the history entry of each.
pub fn holdings_items<'r>(
    rosters: impl IntoIterator<Item = &'r [(String, String)]>,
    created: &str,
    now: u64,
) -> Vec<HashMap<String, AttributeValue>> {
    let mut held: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for roster in rosters {
        for (address, proxy) in roster {
            held.entry(address).or_default().push(proxy.clone());
        }
    }
    held.into_iter()
        .map(|(address, proxies)| {
            let used = proxies.iter().map(|p| history_entry(p, created)).collect();
            holdings_item(
                address,
                proxies,
                used,
                now + masked_comms::index::HISTORY_KEPT_FOR.as_secs(),
            )
        })
        .collect()
}

fn encode(item: &impl serde::Serialize) -> Result<HashMap<String, AttributeValue>, String> {
    serde_dynamo::to_item(item).map_err(|e| e.to_string())
}

/// Writes `items` with BatchWriteItem, [`BATCH_WRITE`] at a time, resending
/// what DynamoDB leaves unprocessed. Returns the number of requests made.
pub async fn write_items(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: Vec<HashMap<String, AttributeValue>>,
) -> Result<usize, String> {
    let mut requests = 0;
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut batch: Vec<WriteRequest> = items
            .by_ref()
            .take(BATCH_WRITE)
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| e.to_string())?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, String>>()?;
        while !batch.is_empty() {
            requests += 1;
            let answer = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut batch))
                .send()
                .await
                .map_err(|e| {
                    format!(
                        "BatchWriteItem: {}",
                        aws_sdk_dynamodb::error::DisplayErrorContext(e)
                    )
                })?;
            batch = answer
                .unprocessed_items
                .and_then(|mut left| left.remove(table))
                .unwrap_or_default();
        }
    }
    Ok(requests)
}

/// Twilio's timestamp format (ISO-8601, UTC, seconds) for unix seconds.
pub fn iso8601(unix: u64) -> String {
    // Days to civil date (Howard Hinnant's algorithm), for dates after 1970.
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3_600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_matches_known_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_767_225_600), "2026-01-01T00:00:00Z");
        assert_eq!(iso8601(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn a_session_has_a_binding_and_a_pair_item_per_participant_and_its_item() {
        let roster = vec![
            ("+14152000000".to_owned(), "+15005550000".to_owned()),
            ("+14152000001".to_owned(), "+15005550000".to_owned()),
        ];
        let items = session_items("CH1", "2026-01-01T00:00:00Z", &roster).unwrap();
        let keys: Vec<(String, String)> = items
            .iter()
            .map(|i| {
                (
                    i["pk"].as_s().unwrap().clone(),
                    i["sk"].as_s().unwrap().clone(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                ("ADDR#+14152000000", "PROXY#+15005550000#CH1"),
                ("PAIR#+14152000000#+15005550000", "SESSIONS"),
                ("ADDR#+14152000001", "PROXY#+15005550000#CH1"),
                ("PAIR#+14152000001#+15005550000", "SESSIONS"),
                ("SESSION#CH1", "SESSION"),
            ]
            .map(|(pk, sk)| (pk.to_owned(), sk.to_owned()))
        );
        let summary: Summary =
            serde_json::from_str(items[4]["summary"].as_s().unwrap()).expect("a summary");
        assert_eq!(summary.participants.len(), 2);
    }

    #[test]
    fn holdings_gather_every_session_of_an_address() {
        let first = [("+14152000000".to_owned(), "+15005550000".to_owned())];
        let second = [("+14152000000".to_owned(), "+15005550001".to_owned())];
        let items = holdings_items([&first[..], &second[..]], "2026-01-01T00:00:00Z", 1);
        assert_eq!(items.len(), 1);
        assert_eq!(
            items[0]["bound"].as_ss().unwrap(),
            &["+15005550000".to_owned(), "+15005550001".to_owned()]
        );
        assert_eq!(items[0]["used"].as_ss().unwrap().len(), 2);
    }
}
