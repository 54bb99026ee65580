//! `WITHIN`, the time bound of a pattern, which the SQL parser does not
//! read: `… MATCH_RECOGNIZE (…) WITHIN '10 minutes'`, or as Flink writes it
//! inside, `PATTERN (…) WITHIN INTERVAL '10' MINUTE`. A `WITHIN` that
//! follows a closing parenthesis and is followed by an interval, in a query
//! that has a `MATCH_RECOGNIZE`, is taken out of the text before parsing:
//! blanked with as many spaces (line breaks kept), so that every position
//! the parser reports stays where it was in the text the client sent.

use sqlparser::keywords::Keyword;
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use crate::dialect::EventfoldDialect;
use crate::error::{SqlError, TextPosition};
use crate::functions::parse_interval;

pub struct Stripped {
    /// The text without its `WITHIN` clause.
    pub text: String,
    /// The bound, in ticks.
    pub within: Option<i64>,
}

/// Takes the `WITHIN` clause out of `text`. A text the tokenizer cannot
/// read is left as it is, for the parser to report.
pub fn strip(text: &str) -> Result<Stripped, SqlError> {
    let unchanged = || Ok(Stripped { text: text.to_owned(), within: None });
    let dialect = EventfoldDialect::default();
    let Ok(tokens) = Tokenizer::new(&dialect, text).tokenize_with_location() else { return unchanged() };
    let tokens: Vec<&TokenWithSpan> =
        tokens.iter().filter(|token| !matches!(token.token, Token::Whitespace(_))).collect::<Vec<_>>();
    let is_keyword = |token: &TokenWithSpan, keyword: Keyword| matches!(&token.token, Token::Word(word) if word.keyword == keyword && word.quote_style.is_none());
    if !tokens.iter().any(|token| is_keyword(token, Keyword::MATCH_RECOGNIZE)) {
        return unchanged();
    }
    let mut found: Option<(Location, Location, i64)> = None;
    for (index, token) in tokens.iter().enumerate() {
        if !is_keyword(token, Keyword::WITHIN) || index == 0 || tokens[index - 1].token != Token::RParen {
            continue;
        }
        let next = |offset: usize| tokens.get(index + offset).copied();
        // `'10 minutes'`, `INTERVAL '10 minutes'` or `INTERVAL '10' MINUTE`.
        let (literal_at, interval_words) = match next(1) {
            Some(token) if is_keyword(token, Keyword::INTERVAL) => (2, true),
            _ => (1, false),
        };
        let Some(literal) = next(literal_at) else { continue };
        let Token::SingleQuotedString(length) = &literal.token else { continue };
        let (interval_text, last) = match next(literal_at + 1) {
            Some(unit @ TokenWithSpan { token: Token::Word(word), .. })
                if interval_words && word.quote_style.is_none() && is_unit(&word.value) =>
            {
                (format!("{length} {}", word.value), unit)
            }
            _ => (length.clone(), literal),
        };
        let at = TextPosition { line: literal.span.start.line, column: literal.span.start.column };
        let ticks = parse_interval(&interval_text)
            .map_err(|error| SqlError::Syntax { message: format!("WITHIN: {error}"), position: Some(at) })?;
        if ticks <= 0 {
            return Err(SqlError::Syntax { message: "WITHIN takes a positive interval".into(), position: Some(at) });
        }
        if found.is_some() {
            let position = TextPosition { line: token.span.start.line, column: token.span.start.column };
            return Err(SqlError::Syntax { message: "one WITHIN per pattern".into(), position: Some(position) });
        }
        found = Some((token.span.start, last.span.end, ticks));
    }
    let Some((start, end, ticks)) = found else { return unchanged() };
    Ok(Stripped { text: blank(text, start, end), within: Some(ticks) })
}

fn is_unit(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    let singular = word.strip_suffix('s').unwrap_or(&word);
    matches!(singular, "millisecond" | "second" | "minute" | "hour" | "day" | "week")
}

/// `text` with the characters from `start` up to `end` (the tokenizer's
/// lines and columns, from 1, in characters) made spaces.
fn blank(text: &str, start: Location, end: Location) -> String {
    let (mut line, mut column) = (1_u64, 1_u64);
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        let at_or_after_start = (line, column) >= (start.line, start.column);
        let before_end = (line, column) < (end.line, end.column);
        if at_or_after_start && before_end && character != '\n' {
            out.push(' ');
        } else {
            out.push(character);
        }
        if character == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::TICKS_PER_SECOND;

    const PATTERN: &str = "SELECT * FROM events MATCH_RECOGNIZE (ORDER BY position MEASURES COUNT(*) AS n \
                           PATTERN (A B) DEFINE A AS true)";

    #[test]
    fn both_spellings_are_read_and_blanked_in_place() {
        let after = format!("{PATTERN} WITHIN '10 minutes'");
        let stripped = strip(&after).expect("strip");
        assert_eq!(stripped.within, Some(600 * TICKS_PER_SECOND));
        assert_eq!(stripped.text.trim_end(), PATTERN);
        assert_eq!(stripped.text.len(), after.len());
        let flink = PATTERN.replace("PATTERN (A B)", "PATTERN (A B) WITHIN INTERVAL '10' MINUTE");
        let stripped = strip(&flink).expect("strip");
        assert_eq!(stripped.within, Some(600 * TICKS_PER_SECOND));
        assert!(!stripped.text.contains("WITHIN") && !stripped.text.contains("MINUTE"));
        assert_eq!(stripped.text.len(), flink.len());
    }

    #[test]
    fn other_queries_and_bad_intervals() {
        let plain = "SELECT 1 WHERE x = 'WITHIN'";
        assert_eq!(strip(plain).expect("strip").text, plain);
        let Err(SqlError::Syntax { position, .. }) = strip(&format!("{PATTERN}\nWITHIN '5 parsecs'")) else {
            panic!("a bad interval is refused");
        };
        assert_eq!(position, Some(TextPosition { line: 2, column: 8 }));
        let twice = PATTERN.replace("PATTERN (A B)", "PATTERN (A B) WITHIN '1 second'") + " WITHIN '2 seconds'";
        assert!(strip(&twice).is_err());
    }
}
