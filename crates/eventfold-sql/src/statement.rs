//! Reading the text: exactly one statement, and only a query (`SELECT`,
//! `WITH … SELECT`) or `EXPLAIN` of one. Anything that would create, change
//! or delete, set a session value, or touch a file is refused before any
//! planning.

use sqlparser::ast::Statement;
use sqlparser::parser::Parser;

use crate::dialect::EventfoldDialect;
use crate::error::SqlError;

/// The longest query text accepted, in bytes.
pub const QUERY_MAX_BYTES: usize = 64 * 1024;

pub enum Parsed {
    Query(Box<sqlparser::ast::Query>),
    Explain(Box<sqlparser::ast::Query>),
}

pub fn parse(text: &str) -> Result<Parsed, SqlError> {
    if text.len() > QUERY_MAX_BYTES {
        return Err(SqlError::Syntax {
            message: format!("the query is {} bytes long; the limit is {QUERY_MAX_BYTES}", text.len()),
            position: None,
        });
    }
    // Tokenized here, so that a pattern's tokens can be made ready first.
    let tokens = crate::pattern::tokens::prepare(text)?.tokens;
    let mut statements =
        Parser::new(&EventfoldDialect::default()).with_tokens_with_locations(tokens).parse_statements()?;
    let statement = match statements.len() {
        1 => statements.remove(0),
        0 => return Err(SqlError::Syntax { message: "there is no statement".into(), position: None }),
        count => {
            return Err(SqlError::Syntax { message: format!("one statement at a time, not {count}"), position: None });
        }
    };
    match statement {
        Statement::Query(query) => Ok(Parsed::Query(query)),
        Statement::Explain { statement, analyze: false, .. } => match *statement {
            Statement::Query(query) => Ok(Parsed::Explain(query)),
            other => Err(SqlError::NotAQuery { statement: first_words(&other.to_string()) }),
        },
        other => Err(SqlError::NotAQuery { statement: first_words(&other.to_string()) }),
    }
}

/// The statement's leading keywords, enough to name it in a refusal.
fn first_words(text: &str) -> String {
    text.split_whitespace()
        .take_while(|word| word.chars().all(|character| character.is_ascii_alphanumeric() || character == '_'))
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TextPosition;

    #[test]
    fn queries_and_explain_are_accepted() {
        assert!(matches!(parse("SELECT count(*) FROM events"), Ok(Parsed::Query(_))));
        assert!(matches!(parse("WITH x AS (SELECT 1) SELECT * FROM x"), Ok(Parsed::Query(_))));
        assert!(matches!(parse("EXPLAIN SELECT * FROM events"), Ok(Parsed::Explain(_))));
    }

    #[test]
    fn writes_definitions_and_settings_are_refused_by_name() {
        for (text, named) in [
            ("CREATE TABLE t (a int)", "CREATE TABLE"),
            ("DROP TABLE events", "DROP TABLE"),
            ("INSERT INTO events VALUES (1)", "INSERT INTO"),
            ("DELETE FROM events", "DELETE FROM"),
            ("UPDATE events SET stream = 'x'", "UPDATE events"),
            ("COPY events TO '/tmp/x'", "COPY events"),
            ("SET search_path = x", "SET search_path"),
            ("EXPLAIN ANALYZE SELECT 1", "EXPLAIN ANALYZE"),
        ] {
            match parse(text) {
                Err(SqlError::NotAQuery { statement }) => assert_eq!(statement, named, "{text}"),
                Err(other) => panic!("{text}: refused as {other}"),
                Ok(_) => panic!("{text}: accepted"),
            }
        }
    }

    #[test]
    fn syntax_errors_carry_the_line_and_column() {
        let Err(SqlError::Syntax { message, position }) = parse("SELECT count(*)\nFROM events WHERE position > > 3")
        else {
            panic!("expected a syntax error");
        };
        assert!(message.contains("found: >"), "{message}");
        assert_eq!(position, Some(TextPosition { line: 2, column: 30 }));
        assert!(matches!(parse("SELECT 1; SELECT 2"), Err(SqlError::Syntax { .. })));
        assert!(matches!(parse("   "), Err(SqlError::Syntax { .. })));
    }
}
