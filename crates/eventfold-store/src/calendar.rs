//! Dates of the proleptic Gregorian calendar, for the faces and subsystems
//! that print timestamps (ISO 8601) without a date library.

/// The date `days` after 1970-01-01 as (year, month, day) (Howard Hinnant's
/// `civil_from_days`, which counts in 400-year eras of 146,097 days).
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
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
    use super::civil_from_days;

    #[test]
    fn known_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(18_686), (2021, 2, 28));
        assert_eq!(civil_from_days(18_687), (2021, 3, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
