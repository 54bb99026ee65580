//! The tokens of a query with a `MATCH_RECOGNIZE`, made ready for the
//! parser, which reads the PostgreSQL dialect:
//!
//! - `WITHIN`, the time bound of a pattern, which the parser does not read:
//!   `… MATCH_RECOGNIZE (…) WITHIN '10 minutes'`, or as Flink writes it
//!   inside, `PATTERN (…) WITHIN INTERVAL '10' MINUTE`. A `WITHIN` that
//!   follows a closing parenthesis and is followed by an interval is taken
//!   out, and its interval kept.
//! - `?` in `PATTERN (…)` (`A?`, `A+?`): PostgreSQL's tokenizer reads `?`
//!   as a JSON operator, the pattern parser expects a placeholder.
//!
//! Tokens carry their place in the text, so every position the parser
//! reports stays where it is in the text the client sent.

use sqlparser::keywords::Keyword;
use sqlparser::parser::ParserError;
use sqlparser::tokenizer::{Location, Span, Token, TokenWithSpan, Tokenizer};

use crate::dialect::EventfoldDialect;
use crate::error::{SqlError, TextPosition};
use crate::functions::parse_interval;

pub struct Prepared {
    pub tokens: Vec<TokenWithSpan>,
    /// The pattern's time bound, in ticks.
    pub within: Option<i64>,
}

fn is_keyword(token: &TokenWithSpan, keyword: Keyword) -> bool {
    matches!(&token.token, Token::Word(word) if word.keyword == keyword && word.quote_style.is_none())
}

fn position(location: Location) -> Option<TextPosition> {
    Some(TextPosition { line: location.line, column: location.column })
}

/// Tokenizes `text` and prepares a pattern's tokens.
pub fn prepare(text: &str) -> Result<Prepared, SqlError> {
    let dialect = EventfoldDialect::default();
    let mut tokens = Tokenizer::new(&dialect, text).tokenize_with_location().map_err(ParserError::from)?;
    if !tokens.iter().any(|token| is_keyword(token, Keyword::MATCH_RECOGNIZE)) {
        return Ok(Prepared { tokens, within: None });
    }
    let within = take_within(&mut tokens)?;
    mark_pattern_questions(&mut tokens);
    Ok(Prepared { tokens, within })
}

/// The indexes of the tokens that are not white space.
fn solid(tokens: &[TokenWithSpan]) -> Vec<usize> {
    (0..tokens.len()).filter(|index| !matches!(tokens[*index].token, Token::Whitespace(_))).collect()
}

fn take_within(tokens: &mut Vec<TokenWithSpan>) -> Result<Option<i64>, SqlError> {
    let solid = solid(tokens);
    let mut found: Option<(usize, usize, i64)> = None;
    for (at, &index) in solid.iter().enumerate() {
        let previous = at.checked_sub(1).map(|before| &tokens[solid[before]].token);
        if !is_keyword(&tokens[index], Keyword::WITHIN) || previous != Some(&Token::RParen) {
            continue;
        }
        let next = |offset: usize| solid.get(at + offset).map(|index| (*index, &tokens[*index]));
        // `'10 minutes'`, `INTERVAL '10 minutes'` or `INTERVAL '10' MINUTE`.
        let (literal_at, interval_word) = match next(1) {
            Some((_, token)) if is_keyword(token, Keyword::INTERVAL) => (2, true),
            _ => (1, false),
        };
        let Some((literal_index, literal)) = next(literal_at) else { continue };
        let Token::SingleQuotedString(length) = &literal.token else { continue };
        let (interval_text, last) = match next(literal_at + 1) {
            Some((unit_index, TokenWithSpan { token: Token::Word(word), .. }))
                if interval_word && word.quote_style.is_none() && is_unit(&word.value) =>
            {
                (format!("{length} {}", word.value), unit_index)
            }
            _ => (length.clone(), literal_index),
        };
        let at_literal = position(literal.span.start);
        let ticks = parse_interval(&interval_text)
            .map_err(|error| SqlError::Syntax { message: format!("WITHIN: {error}"), position: at_literal })?;
        if ticks <= 0 {
            return Err(SqlError::Syntax { message: "WITHIN takes a positive interval".into(), position: at_literal });
        }
        if found.is_some() {
            let message = "one WITHIN per pattern".to_owned();
            return Err(SqlError::Syntax { message, position: position(tokens[index].span.start) });
        }
        found = Some((index, last, ticks));
    }
    let Some((first, last, ticks)) = found else { return Ok(None) };
    tokens.drain(first..=last);
    Ok(Some(ticks))
}

fn is_unit(word: &str) -> bool {
    let word = word.to_ascii_lowercase();
    let singular = word.strip_suffix('s').unwrap_or(&word);
    matches!(singular, "millisecond" | "second" | "minute" | "hour" | "day" | "week")
}

/// Inside `PATTERN ( … )`, `?` as the quantifier the pattern parser reads.
fn mark_pattern_questions(tokens: &mut Vec<TokenWithSpan>) {
    let mut index = 0;
    let mut depth: Option<usize> = None;
    let mut pattern_keyword = false;
    while index < tokens.len() {
        let token = &tokens[index];
        match (&token.token, depth) {
            (Token::Whitespace(_), _) => {}
            (Token::LParen, None) if pattern_keyword => depth = Some(1),
            (_, None) => pattern_keyword = is_keyword(token, Keyword::PATTERN),
            (Token::LParen, Some(open)) => depth = Some(open + 1),
            (Token::RParen, Some(1)) => {
                depth = None;
                pattern_keyword = false;
            }
            (Token::RParen, Some(open)) => depth = Some(open - 1),
            (Token::Question, Some(_)) => tokens[index].token = Token::Placeholder("?".into()),
            // `A?|B` reads as the operator `?|`: a `?`, then a `|`.
            (Token::QuestionPipe, Some(_)) => {
                let span = token.span;
                let after = Location { line: span.start.line, column: span.start.column + 1 };
                tokens[index] =
                    TokenWithSpan { token: Token::Placeholder("?".into()), span: Span::new(span.start, after) };
                tokens.insert(index + 1, TokenWithSpan { token: Token::Pipe, span: Span::new(after, span.end) });
            }
            _ => {}
        }
        index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::TICKS_PER_SECOND;

    const PATTERN: &str = "SELECT * FROM events MATCH_RECOGNIZE (ORDER BY position MEASURES COUNT(*) AS n \
                           PATTERN (A B) DEFINE A AS true)";

    fn words(prepared: &Prepared) -> String {
        prepared.tokens.iter().map(|token| token.token.to_string()).collect()
    }

    #[test]
    fn both_spellings_of_within_are_read_and_taken_out() {
        let after = prepare(&format!("{PATTERN} WITHIN '10 minutes'")).expect("prepare");
        assert_eq!(after.within, Some(600 * TICKS_PER_SECOND));
        assert_eq!(words(&after).trim_end(), PATTERN);
        let flink =
            prepare(&PATTERN.replace("PATTERN (A B)", "PATTERN (A B) WITHIN INTERVAL '10' MINUTE")).expect("prepare");
        assert_eq!(flink.within, Some(600 * TICKS_PER_SECOND));
        assert!(!words(&flink).contains("WITHIN") && !words(&flink).contains("MINUTE"));
    }

    #[test]
    fn question_marks_in_a_pattern_are_quantifiers() {
        let prepared = prepare(&PATTERN.replace("(A B)", "(A? | B+?)")).expect("prepare");
        let placeholders = prepared.tokens.iter().filter(|token| token.token == Token::Placeholder("?".into())).count();
        assert_eq!(placeholders, 2);
        let joined = prepare(&PATTERN.replace("(A B)", "(A?|B)")).expect("prepare");
        assert!(joined.tokens.iter().any(|token| token.token == Token::Pipe));
    }

    #[test]
    fn other_queries_and_bad_intervals() {
        let plain = prepare("SELECT 1 WHERE x = 'WITHIN'").expect("prepare");
        assert_eq!(words(&plain), "SELECT 1 WHERE x = 'WITHIN'");
        let Err(SqlError::Syntax { position, .. }) = prepare(&format!("{PATTERN}\nWITHIN '5 parsecs'")) else {
            panic!("a bad interval is refused");
        };
        assert_eq!(position, Some(TextPosition { line: 2, column: 8 }));
        let twice = PATTERN.replace("PATTERN (A B)", "PATTERN (A B) WITHIN '1 second'") + " WITHIN '2 seconds'";
        assert!(prepare(&twice).is_err());
    }
}
