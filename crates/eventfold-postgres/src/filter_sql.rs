//! `$all` filters pushed down to SQL. Prefix filters become `LIKE ANY`
//! conditions the database evaluates. Regular expressions stay in eventfold:
//! clients write them in the .NET dialect (look-around included), which
//! PostgreSQL's regex engine does not read the same way; every page is
//! checked with [`EventFilter::matches`] too, so a backend-side condition
//! can only narrow what is fetched, never change what is delivered.

use eventfold_store::EventFilter;

/// The SQL condition (on the aliases of `rows::EVENTS_FROM`) and its one
/// `text[]` parameter, when the filter can be pushed down.
pub fn pushed_down(filter: Option<&EventFilter>, parameter: usize) -> Option<(String, Vec<String>)> {
    match filter? {
        EventFilter::StreamNamePrefix(prefixes) => {
            Some((format!("s.name LIKE ANY(${parameter}::text[])"), like_prefixes(prefixes)))
        }
        EventFilter::EventTypePrefix(prefixes) => {
            Some((format!("e.event_type LIKE ANY(${parameter}::text[])"), like_prefixes(prefixes)))
        }
        EventFilter::StreamNameRegex(_) | EventFilter::EventTypeRegex(_) => None,
    }
}

/// The patterns of `prefixes`, leaving out those with a NUL: PostgreSQL
/// text cannot hold one (it would fail the whole query), and no stored name
/// or event type has one (both refuse control characters), so such a prefix
/// matches nothing. With none left, `LIKE ANY` of an empty array is false.
fn like_prefixes(prefixes: &[String]) -> Vec<String> {
    prefixes.iter().filter(|prefix| !prefix.contains('\0')).map(|prefix| like_prefix(prefix)).collect()
}

/// A `LIKE` pattern matching strings that start with `prefix` (the
/// default escape character is `\`).
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for character in prefix.chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_a_prefix_are_taken_literally() {
        assert_eq!(like_prefix("order-"), "order-%");
        assert_eq!(like_prefix("50%_off\\"), "50\\%\\_off\\\\%");
    }

    #[test]
    fn a_prefix_with_a_nul_matches_nothing_and_is_left_out() {
        let prefix = EventFilter::StreamNamePrefix(vec!["a\0b".into(), "order-".into()]);
        let (_, values) = pushed_down(Some(&prefix), 1).expect("pushed down");
        assert_eq!(values, vec!["order-%".to_owned()]);
    }

    #[test]
    fn regexes_are_not_pushed_down() {
        let regex = EventFilter::stream_name_regex("^order").expect("regex");
        assert!(pushed_down(Some(&regex), 3).is_none());
        let prefix = EventFilter::EventTypePrefix(vec!["Ord".into()]);
        let (condition, values) = pushed_down(Some(&prefix), 3).expect("pushed down");
        assert_eq!((condition.as_str(), values), ("e.event_type LIKE ANY($3::text[])", vec!["Ord%".to_owned()]));
    }
}
