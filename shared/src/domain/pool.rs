//! The number pool and the choice of proxy numbers for a participant.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::address::{split_channel, AddressError, PhoneNumber};
use super::geo::{GeoMatch, Location};

/// The Twilio numbers sessions may use as proxies: sorted, without
/// duplicates, each with its location worked out once, on first use (only
/// number choice needs it, so the other functions never pay for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    numbers: Vec<PhoneNumber>,
    index: OnceLock<PoolIndex>,
}

/// What number choice looks up in the pool, built on first use.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolIndex {
    /// The location of each number, by position in the pool.
    locations: Vec<Location>,
    /// Each number's digits as an integer (E.164 has at most 15), with its
    /// position, sorted: a lookup is a binary search over integers.
    by_digits: Vec<(u64, u32)>,
    /// Positions, in pool order, by North American area code and by country
    /// calling code: where the best tiers of a ranking start looking.
    by_area_code: HashMap<u16, Vec<u32>>,
    by_country_code: HashMap<u16, Vec<u32>>,
}

impl PoolIndex {
    fn position(&self, number: &str) -> Option<usize> {
        let key = digits_key(number)?;
        let at = self
            .by_digits
            .binary_search_by_key(&key, |(k, _)| *k)
            .ok()?;
        Some(self.by_digits[at].1 as usize)
    }
}

fn digits_key(number: &str) -> Option<u64> {
    let digits = number.strip_prefix('+')?;
    (digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
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
        Ok(Pool {
            numbers: parsed,
            index: OnceLock::new(),
        })
    }

    pub fn numbers(&self) -> &[PhoneNumber] {
        &self.numbers
    }

    /// Places every number now (libphonenumber's metadata, read on first
    /// use, included), so no later lookup pays for it.
    pub fn warm(&self) {
        self.index();
    }

    /// Whether the numbers are placed already ([`Pool::warm`]).
    pub fn is_warm(&self) -> bool {
        self.index.get().is_some()
    }

    pub fn len(&self) -> usize {
        self.numbers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.numbers.is_empty()
    }

    pub fn contains(&self, number: &PhoneNumber) -> bool {
        self.index_of(number.as_str()).is_some()
    }

    fn index(&self) -> &PoolIndex {
        self.index.get_or_init(|| {
            let mut by_digits: Vec<(u64, u32)> = self
                .numbers
                .iter()
                .enumerate()
                .filter_map(|(i, n)| Some((digits_key(n.as_str())?, i as u32)))
                .collect();
            by_digits.sort_unstable();
            let locations: Vec<Location> = self.numbers.iter().map(Location::of).collect();
            let mut by_area_code: HashMap<u16, Vec<u32>> = HashMap::new();
            let mut by_country_code: HashMap<u16, Vec<u32>> = HashMap::new();
            for (i, location) in locations.iter().enumerate() {
                if let Some(area) = location.area_code {
                    by_area_code.entry(area).or_default().push(i as u32);
                }
                by_country_code
                    .entry(location.country_code)
                    .or_default()
                    .push(i as u32);
            }
            PoolIndex {
                locations,
                by_digits,
                by_area_code,
                by_country_code,
            }
        })
    }

    fn index_of(&self, number: &str) -> Option<usize> {
        self.numbers
            .binary_search_by(|n| n.as_str().cmp(number))
            .ok()
    }
}

/// Whether a participant should see a number they had before.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sticky {
    /// Keep the number in their contacts: prefer their most recent proxy.
    #[default]
    Prefer,
    /// Prefer numbers they have not seen.
    Avoid,
}

/// How number choice ranks a pool.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChoiceSettings {
    pub geo: GeoMatch,
    pub sticky: Sticky,
}

/// What is known of a participant's proxies, as Twilio reports them
/// (`+1...` or `whatsapp:+1...`).
#[derive(Debug, Default, Clone)]
pub struct ProxyHistory<'a> {
    /// Proxies held in non-closed conversations: never offered again.
    pub bound: Vec<&'a str>,
    /// Proxies of earlier, closed sessions, most recent first.
    pub earlier: Vec<&'a str>,
}

/// The pool numbers this participant may be given, best first. Never a
/// number outside the pool or one already bound to them. Ranked by
/// geography, then by history, then in pool order.
///
/// Lazy: a session usually takes the first candidate, and only a race makes
/// it ask for the next, so the pool is scanned only as far as needed. The
/// cost up front is one pass over the participant's history.
pub fn candidates<'p>(
    pool: &'p Pool,
    participant: &Location,
    history: &ProxyHistory<'_>,
    settings: ChoiceSettings,
) -> Candidates<'p> {
    let index = pool.index();
    // Per pool number: bound to them, or already in an earlier-proxy list.
    let mut taken = vec![false; pool.len()];
    for proxy in &history.bound {
        if let Some(i) = index.position(split_channel(proxy).1) {
            taken[i] = true;
        }
    }
    // Most recent first, so each tier's list comes out in order of recency.
    let mut seen: [Vec<u32>; TIERS] = Default::default();
    for proxy in &history.earlier {
        if let Some(i) = index.position(split_channel(proxy).1) {
            if !taken[i] {
                taken[i] = true;
                let tier = participant.distance(&index.locations[i], settings.geo);
                seen[usize::from(tier)].push(i as u32);
            }
        }
    }
    Candidates {
        pool,
        index,
        participant: *participant,
        settings,
        taken,
        seen,
        tier: 0,
        phase: 0,
        cursor: 0,
    }
}

/// Geographic tiers: [`Location::distance`] is 0, 1 or 2.
const TIERS: usize = 3;

/// The ranking [`candidates`] returns, produced as it is read. Within each
/// geographic tier: with `Sticky::Prefer`, earlier proxies (latest first),
/// then unseen numbers in pool order; with `Sticky::Avoid`, unseen numbers
/// first, then earlier proxies, least recent first.
#[derive(Debug, Clone)]
pub struct Candidates<'p> {
    pool: &'p Pool,
    index: &'p PoolIndex,
    participant: Location,
    settings: ChoiceSettings,
    /// Per pool number: never offered as unseen (bound, or an earlier proxy).
    taken: Vec<bool>,
    /// Earlier proxies (pool positions) per tier, most recent first.
    seen: [Vec<u32>; TIERS],
    tier: usize,
    /// 0 or 1: which half of the tier (unseen or earlier numbers) is being read.
    phase: u8,
    cursor: usize,
}

/// Where a tier's unseen numbers can be: a superset, in pool order.
enum Scan<'p> {
    Positions(&'p [u32]),
    All(usize),
}

impl Scan<'_> {
    fn get(&self, k: usize) -> Option<u32> {
        match self {
            Scan::Positions(positions) => positions.get(k).copied(),
            Scan::All(len) => (k < *len).then_some(k as u32),
        }
    }
}

impl<'p> Candidates<'p> {
    fn tier_scan(&self, tier: usize) -> Scan<'p> {
        let index: &'p PoolIndex = self.index;
        let group = |map: &'p HashMap<u16, Vec<u32>>, key: Option<u16>| {
            Scan::Positions(key.and_then(|k| map.get(&k)).map_or(&[], Vec::as_slice))
        };
        match (tier, self.settings.geo) {
            (0, GeoMatch::Off) => Scan::All(self.pool.len()),
            (0, GeoMatch::AreaCode) => group(&index.by_area_code, self.participant.area_code),
            // Numbers of the same country share its calling code.
            (1, GeoMatch::AreaCode | GeoMatch::Country) => {
                group(&index.by_country_code, Some(self.participant.country_code))
            }
            (2, GeoMatch::AreaCode | GeoMatch::Country) => Scan::All(self.pool.len()),
            _ => Scan::Positions(&[]),
        }
    }

    fn next_unseen(&mut self) -> Option<u32> {
        let scan = self.tier_scan(self.tier);
        while let Some(i) = scan.get(self.cursor) {
            self.cursor += 1;
            let location = &self.index.locations[i as usize];
            if !self.taken[i as usize]
                && usize::from(self.participant.distance(location, self.settings.geo)) == self.tier
            {
                return Some(i);
            }
        }
        None
    }

    fn next_earlier(&mut self) -> Option<u32> {
        let seen = &self.seen[self.tier];
        let at = match self.settings.sticky {
            Sticky::Prefer => self.cursor,
            Sticky::Avoid => seen.len().checked_sub(self.cursor + 1)?,
        };
        let i = *seen.get(at)?;
        self.cursor += 1;
        Some(i)
    }
}

impl<'p> Iterator for Candidates<'p> {
    type Item = &'p PhoneNumber;

    fn next(&mut self) -> Option<Self::Item> {
        while self.tier < TIERS {
            if self.phase < 2 {
                let unseen_first = self.settings.sticky == Sticky::Avoid;
                let found = if (self.phase == 0) == unseen_first {
                    self.next_unseen()
                } else {
                    self.next_earlier()
                };
                if let Some(i) = found {
                    return Some(&self.pool.numbers[i as usize]);
                }
                self.phase += 1;
            } else {
                self.tier += 1;
                self.phase = 0;
            }
            self.cursor = 0;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(numbers: &[&str]) -> Pool {
        Pool::new(numbers).unwrap()
    }

    fn at(n: &str) -> Location {
        Location::of(&PhoneNumber::parse(n).unwrap())
    }

    fn choose(
        p: &Pool,
        who: &str,
        history: &ProxyHistory<'_>,
        settings: ChoiceSettings,
    ) -> Vec<String> {
        candidates(p, &at(who), history, settings)
            .map(|n| n.to_string())
            .collect()
    }

    const US_415: &str = "+14155550000";
    const US_212: &str = "+12125550000";
    const CA_604: &str = "+16045550000";
    const UK: &str = "+447700900000";

    fn mixed() -> Pool {
        pool(&[UK, CA_604, US_212, US_415])
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
    fn geo_match_prefers_area_code_then_country_then_any() {
        let none = ProxyHistory::default();
        let area = ChoiceSettings::default();
        let country = ChoiceSettings {
            geo: GeoMatch::Country,
            ..Default::default()
        };
        let off = ChoiceSettings {
            geo: GeoMatch::Off,
            ..Default::default()
        };
        // Table: participant, setting, expected order.
        let cases: [(&str, ChoiceSettings, [&str; 4]); 6] = [
            ("+14155550101", area, [US_415, US_212, CA_604, UK]),
            ("+12125550199", area, [US_212, US_415, CA_604, UK]),
            ("+16045550123", area, [CA_604, US_212, US_415, UK]),
            ("+447700900123", area, [UK, US_212, US_415, CA_604]),
            ("+14155550101", country, [US_212, US_415, CA_604, UK]),
            ("+14155550101", off, [US_212, US_415, CA_604, UK]),
        ];
        for (who, settings, expected) in cases {
            assert_eq!(
                choose(&mixed(), who, &none, settings),
                expected,
                "{who} {settings:?}"
            );
        }
    }

    #[test]
    fn whatsapp_bindings_exclude_the_same_pool_number() {
        let history = ProxyHistory {
            bound: vec![US_212, "whatsapp:+14155550000"],
            earlier: vec![],
        };
        let chosen = choose(
            &mixed(),
            "+14155550101",
            &history,
            ChoiceSettings::default(),
        );
        assert_eq!(chosen, [CA_604, UK]);
    }

    #[test]
    fn sticky_prefers_the_latest_earlier_proxy_within_its_tier() {
        let p = pool(&["+14155550001", "+14155550002", "+14155550003", UK]);
        let history = ProxyHistory {
            bound: vec![],
            earlier: vec!["+14155550003", "+14155550002", UK],
        };
        let prefer = choose(&p, "+14155550101", &history, ChoiceSettings::default());
        assert_eq!(prefer, ["+14155550003", "+14155550002", "+14155550001", UK]);

        let avoid = choose(
            &p,
            "+14155550101",
            &history,
            ChoiceSettings {
                sticky: Sticky::Avoid,
                ..Default::default()
            },
        );
        assert_eq!(avoid, ["+14155550001", "+14155550002", "+14155550003", UK]);
    }

    #[test]
    fn geography_outranks_history() {
        let history = ProxyHistory {
            bound: vec![],
            earlier: vec![UK],
        };
        let chosen = choose(
            &mixed(),
            "+14155550101",
            &history,
            ChoiceSettings::default(),
        );
        assert_eq!(chosen[0], US_415);
    }

    #[test]
    fn nothing_left_when_every_number_is_bound() {
        let p = pool(&["+15005550001"]);
        let history = ProxyHistory {
            bound: vec!["+15005550001"],
            earlier: vec![],
        };
        assert!(choose(&p, "+14155550101", &history, ChoiceSettings::default()).is_empty());
    }
}

#[cfg(test)]
mod proptests {
    use std::collections::HashSet;

    use super::*;
    use proptest::prelude::*;

    /// Numbers from a few places, so geography has something to rank.
    fn number() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\+1415555[0-9]{4}",
            "\\+1212555[0-9]{4}",
            "\\+1604555[0-9]{4}",
            "\\+4477009[0-9]{5}",
            "\\+6140000[0-9]{4}",
            "\\+[1-9][0-9]{6,14}",
        ]
    }

    fn settings() -> impl Strategy<Value = ChoiceSettings> {
        (
            prop_oneof![
                Just(GeoMatch::AreaCode),
                Just(GeoMatch::Country),
                Just(GeoMatch::Off)
            ],
            prop_oneof![Just(Sticky::Prefer), Just(Sticky::Avoid)],
        )
            .prop_map(|(geo, sticky)| ChoiceSettings { geo, sticky })
    }

    /// A history drawn from the pool (indices) and from elsewhere, either
    /// channel, repeats allowed.
    fn proxies() -> impl Strategy<Value = Vec<(prop::sample::Index, Option<String>, bool)>> {
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop::option::weighted(0.2, number()),
                any::<bool>(),
            ),
            0..12,
        )
    }

    fn materialise(
        pool: &Pool,
        picks: &[(prop::sample::Index, Option<String>, bool)],
    ) -> Vec<String> {
        picks
            .iter()
            .map(|(index, foreign, whatsapp)| {
                let number = foreign
                    .clone()
                    .unwrap_or_else(|| index.get(pool.numbers()).to_string());
                if *whatsapp {
                    format!("whatsapp:{number}")
                } else {
                    number
                }
            })
            .collect()
    }

    /// The ranking written the obvious way, over the whole pool at once: the
    /// lazy [`candidates`] must produce exactly this order.
    fn ranked_in_full<'p>(
        pool: &'p Pool,
        who: &Location,
        history: &ProxyHistory<'_>,
        settings: ChoiceSettings,
    ) -> Vec<&'p PhoneNumber> {
        let position = |proxy: &str| {
            pool.numbers()
                .iter()
                .position(|n| n.as_str() == split_channel(proxy).1)
        };
        let bound: HashSet<usize> = history.bound.iter().filter_map(|p| position(p)).collect();
        let mut recency: Vec<Option<usize>> = vec![None; pool.len()];
        for (r, proxy) in history.earlier.iter().enumerate() {
            if let Some(i) = position(proxy) {
                recency[i].get_or_insert(r);
            }
        }
        let mut ranked = Vec::new();
        for tier in 0..3u8 {
            let in_tier: Vec<usize> = (0..pool.len())
                .filter(|i| !bound.contains(i))
                .filter(|&i| who.distance(&Location::of(&pool.numbers()[i]), settings.geo) == tier)
                .collect();
            let unseen: Vec<usize> = in_tier
                .iter()
                .copied()
                .filter(|&i| recency[i].is_none())
                .collect();
            let mut earlier: Vec<usize> = in_tier
                .iter()
                .copied()
                .filter(|&i| recency[i].is_some())
                .collect();
            earlier.sort_by_key(|&i| recency[i]);
            let order = match settings.sticky {
                Sticky::Prefer => earlier.into_iter().chain(unseen).collect::<Vec<_>>(),
                Sticky::Avoid => unseen
                    .into_iter()
                    .chain(earlier.into_iter().rev())
                    .collect(),
            };
            ranked.extend(order.into_iter().map(|i| &pool.numbers()[i]));
        }
        ranked
    }

    proptest! {
        // Failures print their minimal input; no regression files in the tree.
        #![proptest_config(ProptestConfig {
            failure_persistence: None,
            ..ProptestConfig::with_cases(256)
        })]

        #[test]
        fn candidates_are_exactly_the_free_pool_numbers_once(
            numbers in prop::collection::vec(number(), 1..25),
            participant in number(),
            bound in proxies(),
            earlier in proxies(),
            settings in settings(),
        ) {
            let pool = Pool::new(&numbers).unwrap();
            let bound = materialise(&pool, &bound);
            let earlier = materialise(&pool, &earlier);
            let history = ProxyHistory {
                bound: bound.iter().map(String::as_str).collect(),
                earlier: earlier.iter().map(String::as_str).collect(),
            };
            let who = Location::of(&PhoneNumber::parse(&participant).unwrap());
            let chosen: Vec<&PhoneNumber> = candidates(&pool, &who, &history, settings).collect();
            prop_assert_eq!(&chosen, &ranked_in_full(&pool, &who, &history, settings));

            let bound_numbers: HashSet<&str> =
                bound.iter().map(|b| split_channel(b).1).collect();
            let mut seen = HashSet::new();
            for n in &chosen {
                prop_assert!(pool.contains(n), "{} is not in the pool", n);
                prop_assert!(!bound_numbers.contains(n.as_str()), "{} is bound", n);
                prop_assert!(seen.insert(n.as_str()), "{} offered twice", n);
            }
            for n in pool.numbers() {
                if !bound_numbers.contains(n.as_str()) {
                    prop_assert!(seen.contains(n.as_str()), "free {} not offered", n);
                }
            }
            // Ranked by geography first.
            let distances: Vec<u8> = chosen
                .iter()
                .map(|n| who.distance(&Location::of(n), settings.geo))
                .collect();
            prop_assert!(distances.windows(2).all(|w| w[0] <= w[1]), "{:?}", distances);
            // Without history or geography, pool order.
            if earlier.is_empty() && settings.geo == GeoMatch::Off {
                let free: Vec<&PhoneNumber> = pool
                    .numbers()
                    .iter()
                    .filter(|n| !bound_numbers.contains(n.as_str()))
                    .collect();
                prop_assert_eq!(chosen, free);
            }
        }
    }
}
