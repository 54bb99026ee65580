//! Timestamps as handlers see them (`event.created`).

use eventfold_store::civil_from_days;

/// `ticks` (100 ns since the Unix epoch) as ISO 8601 in UTC, with seven
/// fractional digits as .NET prints them.
pub fn iso8601(ticks: i64) -> String {
    let seconds = ticks.div_euclid(10_000_000);
    let fraction = ticks.rem_euclid(10_000_000);
    let days = seconds.div_euclid(86_400);
    let of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{fraction:07}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_a_known_instant() {
        // 2021-03-04T05:06:07.1234567Z
        let ticks = 1_614_834_367 * 10_000_000 + 1_234_567;
        assert_eq!(super::iso8601(ticks), "2021-03-04T05:06:07.1234567Z");
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00.0000000Z");
    }
}
