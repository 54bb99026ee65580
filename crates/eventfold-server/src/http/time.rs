//! Times as the HTTP face writes them where KurrentDB's does (gossip
//! time stamps, start times): ISO 8601 in UTC, to the millisecond.

use eventfold_store::{Timestamp, civil_from_days};

/// `2026-01-31T12:34:56.789Z`.
pub fn iso8601(timestamp: Timestamp) -> String {
    let millis = timestamp.unix_millis();
    let (days, millis_of_day) = (millis.div_euclid(MILLIS_PER_DAY), millis.rem_euclid(MILLIS_PER_DAY));
    let (year, month, day) = civil_from_days(days);
    let seconds_of_day = millis_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds_of_day / 3600,
        seconds_of_day / 60 % 60,
        seconds_of_day % 60,
        millis_of_day % 1000
    )
}

const MILLIS_PER_DAY: i64 = 86_400_000;

#[cfg(test)]
mod tests {
    use super::*;

    fn at_millis(millis: i64) -> Timestamp {
        Timestamp(millis * 10_000)
    }

    #[test]
    fn times_are_written_in_utc_to_the_millisecond() {
        assert_eq!(iso8601(at_millis(0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(at_millis(951_782_400_000)), "2000-02-29T00:00:00.000Z", "a leap day");
        assert_eq!(iso8601(at_millis(1_767_225_599_999)), "2025-12-31T23:59:59.999Z");
        assert_eq!(iso8601(at_millis(1_767_225_600_000)), "2026-01-01T00:00:00.000Z");
        assert_eq!(iso8601(at_millis(-1)), "1969-12-31T23:59:59.999Z");
    }
}
