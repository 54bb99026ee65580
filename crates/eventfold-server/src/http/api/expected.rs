//! What an append or a delete expects of the stream, as a client writes it:
//! a revision number, or `any`, `noStream`, `streamExists`.

use eventfold_store::ExpectedRevision;
use serde::Deserialize;
use utoipa::ToSchema;

use super::error::ApiError;

/// An exact revision (the stream's last event must have it), or a word.
#[derive(Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(untagged)]
pub enum ExpectedRevisionBody {
    Revision(u64),
    Word(ExpectedWord),
}

#[derive(Deserialize, ToSchema, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum ExpectedWord {
    /// No check.
    Any,
    /// The stream must not exist (or be soft-deleted).
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
}

impl Default for ExpectedRevisionBody {
    fn default() -> Self {
        Self::Word(ExpectedWord::Any)
    }
}

impl From<ExpectedRevisionBody> for ExpectedRevision {
    fn from(body: ExpectedRevisionBody) -> Self {
        match body {
            ExpectedRevisionBody::Revision(revision) => ExpectedRevision::Exact(revision),
            ExpectedRevisionBody::Word(ExpectedWord::Any) => ExpectedRevision::Any,
            ExpectedRevisionBody::Word(ExpectedWord::NoStream) => ExpectedRevision::NoStream,
            ExpectedRevisionBody::Word(ExpectedWord::StreamExists) => ExpectedRevision::StreamExists,
        }
    }
}

/// The same, from a query parameter, where numbers arrive as text.
pub fn parse_expected(text: &str) -> Result<ExpectedRevision, ApiError> {
    match text {
        "any" => Ok(ExpectedRevision::Any),
        "noStream" => Ok(ExpectedRevision::NoStream),
        "streamExists" => Ok(ExpectedRevision::StreamExists),
        number => number.parse().map(ExpectedRevision::Exact).map_err(|_| {
            ApiError::bad_request(format!(
                "expectedRevision `{number}` is neither a revision nor one of any, noStream, streamExists"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_words_are_expectations_and_anything_else_is_refused() {
        let parsed: Vec<ExpectedRevisionBody> =
            serde_json::from_str(r#"[3, "any", "noStream", "streamExists"]"#).expect("valid");
        let expected: Vec<ExpectedRevision> = parsed.into_iter().map(Into::into).collect();
        use ExpectedRevision::*;
        assert_eq!(expected, vec![Exact(3), Any, NoStream, StreamExists]);
        assert!(serde_json::from_str::<ExpectedRevisionBody>(r#""3""#).is_err());
        assert!(serde_json::from_str::<ExpectedRevisionBody>("-1").is_err());
        assert_eq!(parse_expected("7").ok(), Some(Exact(7)));
        assert!(parse_expected("-1").is_err() && parse_expected("no_stream").is_err());
    }
}
