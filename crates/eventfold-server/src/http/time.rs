//! Times as the HTTP face writes them where KurrentDB's does (gossip
//! time stamps, start times): ISO 8601 in UTC, to the millisecond.

use eventfold_store::Timestamp;

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

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, which counts in 400-year eras of 146,097 days).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

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
