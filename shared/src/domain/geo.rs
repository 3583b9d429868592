//! Where a number belongs: country code, region and (North American) area
//! code, from libphonenumber's metadata.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use super::address::PhoneNumber;

/// The North American Numbering Plan's country calling code.
const NANP: u16 = 1;

/// The geographic facts number choice compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Location {
    pub country_code: u16,
    /// The region (ISO 3166 country) when libphonenumber can tell it.
    pub region: Option<phonenumber::country::Id>,
    /// The three-digit area code of a North American number.
    pub area_code: Option<u16>,
}

impl Location {
    /// Reads the country code and area code from the digits and the region
    /// from libphonenumber's metadata, without its full (regex-driven) parse,
    /// which costs far more than ranking a whole pool.
    pub fn of(number: &PhoneNumber) -> Location {
        let Some((country_code, national)) = split_country_code(number.as_str()) else {
            return Location::default();
        };
        let area_code = (country_code == NANP && national.len() == 10)
            .then(|| national[..3].parse().ok())
            .flatten();
        let regions = phonenumber::metadata::DATABASE
            .region(&country_code)
            .unwrap_or_default();
        let region = match regions.as_slice() {
            [only] => only.parse().ok(),
            _ => area_code.and_then(|area| nanp_region(area, number)),
        };
        Location {
            country_code,
            region,
            area_code,
        }
    }

    /// How well a proxy at `other` suits a participant here: 0 is best.
    pub fn distance(&self, other: &Location, geo: GeoMatch) -> u8 {
        let same_area = self.area_code.is_some() && self.area_code == other.area_code;
        let same_country = match (self.region, other.region) {
            (Some(a), Some(b)) => a == b,
            _ => self.country_code != 0 && self.country_code == other.country_code,
        };
        match geo {
            GeoMatch::Off => 0,
            GeoMatch::AreaCode if same_area => 0,
            GeoMatch::AreaCode | GeoMatch::Country if same_country => 1,
            _ => 2,
        }
    }
}

/// The country calling code of an E.164 number and the national digits
/// after it. Calling codes are prefix-free, so the first known prefix wins.
pub fn split_country_code(e164: &str) -> Option<(u16, &str)> {
    let digits = e164.strip_prefix('+')?;
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        phonenumber::metadata::DATABASE
            .region(&code)
            .map(|_| (code, &digits[len..]))
    })
}

/// The region of a North American area code (US, CA, and the Caribbean
/// share +1). An area code belongs to one region, so the answer of one full
/// parse is kept for every later number with that area code.
fn nanp_region(area_code: u16, number: &PhoneNumber) -> Option<phonenumber::country::Id> {
    static REGIONS: LazyLock<Mutex<HashMap<u16, Option<phonenumber::country::Id>>>> =
        LazyLock::new(Default::default);
    let mut regions = REGIONS.lock().unwrap_or_else(|e| e.into_inner());
    *regions.entry(area_code).or_insert_with(|| {
        phonenumber::parse(None, number.as_str())
            .ok()
            .and_then(|parsed| parsed.country().id())
    })
}

/// How strongly number choice prefers local proxies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GeoMatch {
    /// Same area code, then same country, then any.
    #[default]
    AreaCode,
    /// Same country, then any.
    Country,
    /// Pool order only.
    Off,
}

#[cfg(test)]
mod tests {
    use super::*;
    use phonenumber::country::Id;

    fn at(n: &str) -> Location {
        Location::of(&PhoneNumber::parse(n).unwrap())
    }

    #[test]
    fn reads_country_region_and_area_code() {
        let sf = at("+14155550101");
        assert_eq!(sf.country_code, 1);
        assert_eq!(sf.area_code, Some(415));
        assert_eq!(sf.region, Some(Id::US));

        let vancouver = at("+16045550123");
        assert_eq!(vancouver.area_code, Some(604));
        assert_eq!(vancouver.region, Some(Id::CA));

        let london = at("+447400123456");
        assert_eq!(london.country_code, 44);
        assert_eq!(london.area_code, None);
        // +44 is shared (GB, GG, IM, JE): the country code decides.
        assert_eq!(london.region, None);

        let paris = at("+33612345678");
        assert_eq!((paris.country_code, paris.region), (33, Some(Id::FR)));
        assert_eq!(at("+358401234567").country_code, 358);
    }

    #[test]
    fn distance_orders_area_then_country_then_any() {
        let sf = at("+14155550101");
        assert_eq!(sf.distance(&at("+14155559999"), GeoMatch::AreaCode), 0);
        assert_eq!(sf.distance(&at("+12125550100"), GeoMatch::AreaCode), 1);
        assert_eq!(
            sf.distance(&at("+16045550123"), GeoMatch::AreaCode),
            2,
            "Canada is another country"
        );
        assert_eq!(sf.distance(&at("+447700900123"), GeoMatch::AreaCode), 2);
        assert_eq!(sf.distance(&at("+14155559999"), GeoMatch::Country), 1);
        assert_eq!(sf.distance(&at("+447700900123"), GeoMatch::Off), 0);
    }
}
