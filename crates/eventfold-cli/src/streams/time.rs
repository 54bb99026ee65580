//! `created` as RFC 3339 text: the protocol carries .NET ticks (100 ns
//! units since the Unix epoch).

const TICKS_PER_SECOND: i64 = 10_000_000;
const SECONDS_PER_DAY: i64 = 86_400;

/// `2026-12-05T08:34:46.1234567Z` for ticks since the epoch.
pub fn ticks_to_rfc3339(ticks: i64) -> String {
    let seconds = ticks.div_euclid(TICKS_PER_SECOND);
    let fraction = ticks.rem_euclid(TICKS_PER_SECOND);
    let days = seconds.div_euclid(SECONDS_PER_DAY);
    let of_day = seconds.rem_euclid(SECONDS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:07}Z",
        of_day / 3600,
        (of_day / 60) % 60,
        of_day % 60
    )
}

/// Howard Hinnant's `civil_from_days`: the proleptic Gregorian date of a
/// day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_utc_dates() {
        assert_eq!(ticks_to_rfc3339(0), "1970-01-01T00:00:00.0000000Z");
        // 2000-02-29T12:34:56.5Z: a leap day.
        assert_eq!(ticks_to_rfc3339(951_827_696 * TICKS_PER_SECOND + 5_000_000), "2000-02-29T12:34:56.5000000Z");
        assert_eq!(ticks_to_rfc3339(-TICKS_PER_SECOND), "1969-12-31T23:59:59.0000000Z");
    }
}
