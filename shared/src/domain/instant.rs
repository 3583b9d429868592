//! Points in time as Twilio writes them (`2026-12-02T10:00:00Z`), as unix
//! seconds, for the index's expiry times.

/// Seconds since the Unix epoch, from the system clock: the one clock read
/// the index's expiry times and the events' timestamps share.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Unix seconds of an ISO-8601 date and time with a UTC offset; `None` for
/// anything else (week or ordinal dates, no offset, before 1970).
pub fn unix_seconds(text: &str) -> Option<u64> {
    let parsed = iso8601::datetime(text).ok()?;
    let iso8601::Date::YMD { year, month, day } = parsed.date else {
        return None;
    };
    let time = parsed.time;
    let days = days_from_civil(i64::from(year), i64::from(month), i64::from(day));
    let offset = i64::from(time.tz_offset_hours) * 3_600 + i64::from(time.tz_offset_minutes) * 60;
    let seconds = days * 86_400
        + i64::from(time.hour) * 3_600
        + i64::from(time.minute) * 60
        + i64::from(time.second)
        - offset;
    u64::try_from(seconds).ok()
}

/// Unix seconds as Twilio writes times: `2026-12-02T10:00:00Z`.
pub fn iso8601(unix_seconds: u64) -> String {
    let days = (unix_seconds / 86_400) as i64;
    let (year, month, day) = civil_from_days(days);
    let left = unix_seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        left / 3_600,
        left % 3_600 / 60,
        left % 60
    )
}

/// The date of a day number since 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        // `date -d 2026-12-02T10:00:00Z +%s`
        assert_eq!(unix_seconds("2026-12-02T10:00:00Z"), Some(1_796_205_600));
        assert_eq!(unix_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(unix_seconds("2000-02-29T23:59:59Z"), Some(951_868_799));
        assert_eq!(
            unix_seconds("2026-12-02T11:00:00+01:00"),
            Some(1_796_205_600)
        );
        assert_eq!(unix_seconds("2015-W45-1T00:00:00Z"), None);
        assert_eq!(unix_seconds("not a date"), None);
        assert_eq!(unix_seconds("1969-12-31T23:59:59Z"), None);
    }

    #[test]
    fn formats_as_twilio_does_and_round_trips() {
        // `date -u -d @1796205600 +%FT%TZ`
        assert_eq!(iso8601(1_796_205_600), "2026-12-02T10:00:00Z");
        assert_eq!(iso8601(951_868_799), "2000-02-29T23:59:59Z");
        for seconds in [0, 86_399, 86_400, 1_000_000_000, 4_102_444_800] {
            assert_eq!(unix_seconds(&iso8601(seconds)), Some(seconds), "{seconds}");
        }
    }
}
