//! Session timers: ISO-8601 durations with Twilio's minimums.

use std::fmt;

const MINUTE: u64 = 60;
/// Twilio's minimum for `Timers.Inactive`.
const INACTIVE_MINIMUM_SECONDS: u64 = MINUTE;
/// Twilio's minimum for `Timers.Closed`.
const CLOSED_MINIMUM_SECONDS: u64 = 10 * MINUTE;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimerError {
    #[error("must be an ISO-8601 duration such as PT1H or P1D")]
    NotIso8601,
    #[error("must be at least {0} (Twilio's minimum)")]
    TooShort(&'static str),
}

/// A timer as Twilio takes it: the ISO-8601 text, known to be long enough.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    text: String,
    seconds: u64,
}

impl SessionTimer {
    /// A `Timers.Inactive` value: at least one minute.
    pub fn inactive(text: &str) -> Result<Self, TimerError> {
        Self::at_least(text, INACTIVE_MINIMUM_SECONDS, "1 minute")
    }

    /// A `Timers.Closed` value: at least ten minutes.
    pub fn closed(text: &str) -> Result<Self, TimerError> {
        Self::at_least(text, CLOSED_MINIMUM_SECONDS, "10 minutes")
    }

    fn at_least(text: &str, minimum: u64, minimum_text: &'static str) -> Result<Self, TimerError> {
        let seconds = seconds_of(text)?;
        if seconds < minimum {
            return Err(TimerError::TooShort(minimum_text));
        }
        Ok(SessionTimer {
            text: text.to_owned(),
            seconds,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn seconds(&self) -> u64 {
        self.seconds
    }
}

impl fmt::Display for SessionTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Length of an ISO-8601 duration in seconds, counting a month as 30 days and
/// a year as 365, which is enough to compare with Twilio's minimums.
fn seconds_of(text: &str) -> Result<u64, TimerError> {
    // The parser accepts a bare "P"/"PT"; a duration must name at least one unit.
    if !text.starts_with('P') || text.len() < 3 || text.ends_with('T') {
        return Err(TimerError::NotIso8601);
    }
    // `iso8601::duration` ignores trailing text; the whole input must parse.
    let parsed = match iso8601::parsers::parse_duration(text.as_bytes()) {
        Ok((b"", parsed)) => parsed,
        _ => return Err(TimerError::NotIso8601),
    };
    let seconds = match parsed {
        iso8601::Duration::Weeks(w) => u64::from(w) * 7 * 86_400,
        iso8601::Duration::YMDHMS {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millisecond: _,
        } => {
            u64::from(year) * 365 * 86_400
                + u64::from(month) * 30 * 86_400
                + u64::from(day) * 86_400
                + u64::from(hour) * 3_600
                + u64::from(minute) * 60
                + u64::from(second)
        }
    };
    Ok(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_common_durations() {
        for (text, seconds) in [
            ("PT1M", 60),
            ("PT1H", 3_600),
            ("P1D", 86_400),
            ("P1W", 604_800),
            ("P1DT12H", 129_600),
            ("PT90S", 90),
        ] {
            assert_eq!(seconds_of(text), Ok(seconds), "{text}");
        }
    }

    #[test]
    fn rejects_text_that_is_not_a_duration() {
        for text in [
            "", "P", "PT", "1H", "PT1X", "P1DT", "one day", "-PT1H", "PT1H ",
        ] {
            assert_eq!(seconds_of(text), Err(TimerError::NotIso8601), "{text:?}");
        }
    }

    #[test]
    fn enforces_twilios_minimums() {
        assert!(SessionTimer::inactive("PT1M").is_ok());
        assert_eq!(
            SessionTimer::inactive("PT59S"),
            Err(TimerError::TooShort("1 minute"))
        );
        assert!(SessionTimer::closed("PT10M").is_ok());
        assert_eq!(
            SessionTimer::closed("PT9M"),
            Err(TimerError::TooShort("10 minutes"))
        );
        assert_eq!(SessionTimer::closed("P1D").unwrap().as_str(), "P1D");
    }
}
