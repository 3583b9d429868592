//! Who holds which proxy: a binding's item, its pair's item (the sessions
//! binding an address to a proxy) and the address's holdings (the proxies
//! it holds, and its history for sticky number choice).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::items::{history_entry, read_history_entry, Binding, BindingItem, ItemKey};
use super::table::{encode, is_condition_failure, key_attributes, put_request};
use super::{expiry, Index, IndexError, HISTORY_KEPT, HISTORY_KEPT_FOR};

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

impl Index<'_> {
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
            crate::domain::instant::unix_now().saturating_sub(HISTORY_KEPT_FOR.as_secs()),
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
        let now = crate::domain::instant::unix_now();
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
                        (crate::domain::instant::unix_now() + HISTORY_KEPT_FOR.as_secs())
                            .to_string(),
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
}

/// Whether the holdings item may be made by a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Holdings {
    MadeIfMissing,
    OnlyIfPresent,
}

#[cfg(test)]
mod tests {
    use super::*;

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
