//! Why a query was refused or stopped. The faces map each kind to their
//! own status once; callers branch on the variant, never on the text.

use std::fmt;
use std::time::Duration;

use eventfold_store::ReadError;

/// Where in the query text something went wrong, both counted from 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TextPosition {
    pub line: u64,
    pub column: u64,
}

impl fmt::Display for TextPosition {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "line {}, column {}", self.line, self.column)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SqlError {
    /// The text is not SQL the parser reads.
    #[error("syntax error: {message}")]
    Syntax { message: String, position: Option<TextPosition> },
    /// Valid SQL that names something unknown or uses what is not supported.
    #[error("{message}")]
    Plan { message: String, position: Option<TextPosition> },
    /// A statement other than a query (DDL, writes, settings, files).
    #[error("only SELECT, WITH and EXPLAIN are accepted, not {statement}")]
    NotAQuery { statement: String },
    /// A row's value made an expression fail (a type mismatch, a bad
    /// timestamp text, a division by zero).
    #[error("{message}")]
    Evaluation { message: String },
    /// The query would hold more groups than it may.
    #[error("the query holds more than {limit} groups; narrow it with WHERE or a coarser GROUP BY")]
    TooManyGroups { limit: usize },
    #[error("the query ran past its timeout of {} ms", timeout.as_millis())]
    Timeout { timeout: Duration },
    /// Reading the events failed (access denied, storage).
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl SqlError {
    pub fn plan(message: impl Into<String>) -> Self {
        SqlError::Plan { message: message.into(), position: None }
    }

    /// A query that is valid SQL but cannot be maintained continuously,
    /// with the reason.
    pub fn refused_continuous(reason: &str) -> Self {
        Self::plan(format!("this query cannot be maintained continuously: {reason}"))
    }

    pub fn plan_at(message: impl Into<String>, span: sqlparser::tokenizer::Span) -> Self {
        let position =
            (span.start.line > 0).then_some(TextPosition { line: span.start.line, column: span.start.column });
        SqlError::Plan { message: message.into(), position }
    }

    pub fn evaluation(message: impl Into<String>) -> Self {
        SqlError::Evaluation { message: message.into() }
    }

    /// Where in the text the error lies, when the parser or planner knows.
    pub fn position(&self) -> Option<TextPosition> {
        match self {
            SqlError::Syntax { position, .. } | SqlError::Plan { position, .. } => *position,
            _ => None,
        }
    }

    /// Whether the client's query is at fault (as opposed to the store or
    /// the time it took).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            SqlError::Syntax { .. }
                | SqlError::Plan { .. }
                | SqlError::NotAQuery { .. }
                | SqlError::Evaluation { .. }
                | SqlError::TooManyGroups { .. }
        )
    }
}

impl From<sqlparser::parser::ParserError> for SqlError {
    fn from(error: sqlparser::parser::ParserError) -> Self {
        use sqlparser::parser::ParserError;
        let text = match error {
            ParserError::TokenizerError(text) | ParserError::ParserError(text) => text,
            ParserError::RecursionLimitExceeded => {
                return SqlError::Syntax { message: "the query nests too deeply".into(), position: None };
            }
        };
        let (message, position) = split_position(&text);
        SqlError::Syntax { message: message.to_owned(), position }
    }
}

/// The parser ends its messages with ` at Line: L, Column: C`.
fn split_position(text: &str) -> (&str, Option<TextPosition>) {
    let Some((message, location)) = text.rsplit_once(" at Line: ") else { return (text, None) };
    let Some((line, column)) = location.split_once(", Column: ") else { return (text, None) };
    match (line.trim().parse(), column.trim().parse()) {
        (Ok(line), Ok(column)) => (message, Some(TextPosition { line, column })),
        _ => (text, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_messages_give_their_line_and_column() {
        let (message, position) = split_position("Expected: an expression, found: FROM at Line: 2, Column: 8");
        assert_eq!(message, "Expected: an expression, found: FROM");
        assert_eq!(position, Some(TextPosition { line: 2, column: 8 }));
        assert_eq!(split_position("no location"), ("no location", None));
    }
}
