//! Time formatting and ISO-8601 duration parsing, without pulling in a date crate.
//!
//! The Conversations API speaks `2015-12-16T22:18:37Z`; the 2010-04-01 REST API speaks
//! RFC 2822 (`Tue, 31 Aug 2010 20:36:28 +0000`). Both are always UTC here.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    weekday: usize,
}

fn parts(unix: u64) -> Parts {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let (year, month, day) = civil_from_days(days);
    Parts {
        year,
        month,
        day,
        hour: secs / 3600,
        minute: secs % 3600 / 60,
        second: secs % 60,
        // 1970-01-01 was a Thursday; index 0 is Sunday.
        weekday: ((days + 4).rem_euclid(7)) as usize,
    }
}

/// `2015-12-16T22:18:37Z`
pub(crate) fn iso8601(unix: u64) -> String {
    let p = parts(unix);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

/// `Tue, 31 Aug 2010 20:36:28 +0000`
pub(crate) fn rfc2822(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(unix);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[p.weekday],
        p.day,
        MONTHS[(p.month - 1) as usize],
        p.year,
        p.hour,
        p.minute,
        p.second
    )
}

/// Parses an ISO-8601 duration such as `PT5M`, `P1D`, `P1DT12H`, `PT90S`, `P2W`.
///
/// Years and months have no fixed length; they count as 365 and 30 days, which is
/// close enough for timer validation in an emulator.
pub(crate) fn parse_iso_duration(text: &str) -> Option<Duration> {
    let rest = text.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let mut seconds: u64 = 0;
    let mut in_time = false;
    let mut number = String::new();
    let mut saw_component = false;
    let mut saw_time_component = false;
    for ch in rest.chars() {
        match ch {
            'T' if !in_time && number.is_empty() => in_time = true,
            '0'..='9' => number.push(ch),
            unit => {
                let value: u64 = number.parse().ok()?;
                number.clear();
                let factor = match (in_time, unit) {
                    (false, 'Y') => 365 * 86_400,
                    (false, 'M') => 30 * 86_400,
                    (false, 'W') => 7 * 86_400,
                    (false, 'D') => 86_400,
                    (true, 'H') => 3600,
                    (true, 'M') => 60,
                    (true, 'S') => 1,
                    _ => return None,
                };
                seconds = seconds.checked_add(value.checked_mul(factor)?)?;
                saw_component = true;
                saw_time_component |= in_time;
            }
        }
    }
    // A trailing number without a unit, or a `T` with nothing after it, is malformed.
    if !number.is_empty() || !saw_component || (in_time && !saw_time_component) {
        return None;
    }
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2015-12-16T22:18:37Z, the date used in Twilio's docs.
        assert_eq!(iso8601(1_450_304_317), "2015-12-16T22:18:37Z");
        // Tue, 31 Aug 2010 20:36:28 +0000, the date used in Twilio's Calls docs.
        assert_eq!(rfc2822(1_283_286_988), "Tue, 31 Aug 2010 20:36:28 +0000");
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // Leap day.
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_iso_duration("PT5M"), Some(Duration::from_secs(300)));
        assert_eq!(parse_iso_duration("PT1M"), Some(Duration::from_secs(60)));
        assert_eq!(
            parse_iso_duration("P1DT12H"),
            Some(Duration::from_secs(86_400 + 43_200))
        );
        assert_eq!(parse_iso_duration("PT90S"), Some(Duration::from_secs(90)));
        assert_eq!(
            parse_iso_duration("P2W"),
            Some(Duration::from_secs(14 * 86_400))
        );
        for bad in ["", "P", "PT", "5M", "PT5", "P5H", "PTM", "PT5X", "P1DT"] {
            assert_eq!(parse_iso_duration(bad), None, "{bad:?} should not parse");
        }
    }
}
