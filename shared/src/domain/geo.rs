//! Where a number belongs: country code, region and (North American) area
//! code, from libphonenumber's metadata.

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
    pub fn of(number: &PhoneNumber) -> Location {
        let Ok(parsed) = phonenumber::parse(None, number.as_str()) else {
            return Location::default();
        };
        let country_code = parsed.code().value();
        let area_code = (country_code == NANP)
            .then(|| parsed.national().value())
            .filter(|n| (2_000_000_000..10_000_000_000).contains(n))
            .map(|n| (n / 10_000_000) as u16);
        Location {
            country_code,
            region: parsed.country().id(),
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
        assert_eq!(london.region, Some(Id::GB));
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
