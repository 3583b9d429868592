//! The number pool and the choice of proxy numbers for a participant.

use std::collections::HashSet;

use super::address::{split_channel, AddressError, PhoneNumber};

/// The Twilio numbers sessions may use as proxies: sorted, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    numbers: Vec<PhoneNumber>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error("lists no numbers")]
    Empty,
    #[error("entry {position} {reason}")]
    InvalidNumber {
        position: usize,
        reason: AddressError,
    },
}

impl Pool {
    pub fn new<I, S>(numbers: I) -> Result<Self, PoolError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut parsed = numbers
            .into_iter()
            .enumerate()
            .map(|(i, n)| {
                PhoneNumber::parse(n.as_ref().trim()).map_err(|reason| PoolError::InvalidNumber {
                    position: i + 1,
                    reason,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if parsed.is_empty() {
            return Err(PoolError::Empty);
        }
        parsed.sort();
        parsed.dedup();
        Ok(Pool { numbers: parsed })
    }

    pub fn numbers(&self) -> &[PhoneNumber] {
        &self.numbers
    }

    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    pub fn contains(&self, number: &PhoneNumber) -> bool {
        self.numbers.binary_search(number).is_ok()
    }
}

/// The proxy numbers a participant already holds in non-closed conversations,
/// as Twilio reports them (`+1...` or `whatsapp:+1...`).
#[derive(Debug, Default, Clone)]
pub struct BoundProxies<'a> {
    numbers: HashSet<&'a str>,
}

impl<'a> BoundProxies<'a> {
    pub fn new(proxy_addresses: impl IntoIterator<Item = &'a str>) -> Self {
        BoundProxies {
            numbers: proxy_addresses
                .into_iter()
                .map(|p| split_channel(p).1)
                .collect(),
        }
    }

    pub fn contains(&self, number: &PhoneNumber) -> bool {
        self.numbers.contains(number.as_str())
    }
}

/// The pool numbers this participant may be given, best first: every number
/// not already bound to them, in the pool's deterministic order.
pub fn candidates<'p>(pool: &'p Pool, bound: &BoundProxies<'_>) -> Vec<&'p PhoneNumber> {
    pool.numbers.iter().filter(|n| !bound.contains(n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(numbers: &[&str]) -> Pool {
        Pool::new(numbers).unwrap()
    }

    #[test]
    fn pool_is_sorted_and_deduplicated() {
        let p = pool(&["+15005550003", "+15005550001", "+15005550003"]);
        let numbers: Vec<_> = p.numbers().iter().map(|n| n.as_str()).collect();
        assert_eq!(numbers, ["+15005550001", "+15005550003"]);
    }

    #[test]
    fn pool_rejects_empty_and_names_the_bad_entry() {
        assert_eq!(Pool::new(Vec::<String>::new()), Err(PoolError::Empty));
        let err = Pool::new(["+15005550001", "5005550002"]).unwrap_err();
        assert_eq!(
            err,
            PoolError::InvalidNumber {
                position: 2,
                reason: AddressError::MissingPlus
            }
        );
    }

    #[test]
    fn candidates_skip_numbers_bound_on_either_channel_prefix() {
        let p = pool(&["+15005550001", "+15005550002", "+15005550003"]);
        let bound = BoundProxies::new(["+15005550002", "whatsapp:+15005550001"]);
        let chosen: Vec<_> = candidates(&p, &bound).iter().map(|n| n.as_str()).collect();
        assert_eq!(chosen, ["+15005550003"]);
    }

    #[test]
    fn no_candidates_when_every_number_is_bound() {
        let p = pool(&["+15005550001"]);
        let bound = BoundProxies::new(["+15005550001"]);
        assert!(candidates(&p, &bound).is_empty());
    }
}
