use std::time::Duration;

/// Why a query cannot become a projection: it is refused and nothing is
/// stored.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("syntax error at line {line}, column {column}: {message}")]
    Syntax { line: u32, column: u32, message: String },
    #[error("the query threw while defining the projection: {0}")]
    Definition(String),
    #[error("the query defines no source: None of streams and categories are included")]
    NoSource,
    #[error("{0}")]
    Invalid(String),
}

/// Why a projection faulted while running. The text is its faulted reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    #[error("{0}")]
    Threw(String),
    #[error("the handler ran longer than the {}ms allowed for one event", .0.as_millis())]
    DeadlineExceeded(Duration),
    #[error("the projection ran out of its {0} bytes of memory")]
    OutOfMemory(usize),
    #[error("the state of partition '{partition}' is {bytes} bytes, over the {max} bytes allowed")]
    StateTooLarge { partition: String, bytes: usize, max: usize },
    #[error("the JavaScript engine answered unexpectedly: {0}")]
    Internal(String),
}
