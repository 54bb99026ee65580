use std::fmt;

/// An event's place in the `$all` log: the byte offset of its record in the
/// log. The log opens with a header, so no event is ever at position 0 and
/// "from position 0" always means "from the first event".
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Default)]
pub struct Position(pub u64);

impl Position {
    pub const START: Position = Position(0);
}

impl fmt::Display for Position {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// What an append expects the stream's last revision to be.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum ExpectedRevision {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    StreamExists,
    /// The stream's last event must have exactly this revision.
    Exact(u64),
}

impl fmt::Display for ExpectedRevision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedRevision::Any => formatter.write_str("any"),
            ExpectedRevision::NoStream => formatter.write_str("no stream"),
            ExpectedRevision::StreamExists => formatter.write_str("stream exists"),
            ExpectedRevision::Exact(revision) => write!(formatter, "{revision}"),
        }
    }
}

/// What a stream's last revision actually is.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum CurrentRevision {
    NoStream,
    Current(u64),
}

impl CurrentRevision {
    /// The revision the next appended event gets.
    pub fn next(self) -> u64 {
        match self {
            CurrentRevision::NoStream => 0,
            CurrentRevision::Current(revision) => revision + 1,
        }
    }

    pub fn satisfies(self, expected: ExpectedRevision) -> bool {
        match (expected, self) {
            (ExpectedRevision::Any, _) => true,
            (ExpectedRevision::NoStream, CurrentRevision::NoStream) => true,
            (ExpectedRevision::StreamExists, CurrentRevision::Current(_)) => true,
            (ExpectedRevision::Exact(want), CurrentRevision::Current(have)) => want == have,
            _ => false,
        }
    }
}

impl fmt::Display for CurrentRevision {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CurrentRevision::NoStream => formatter.write_str("no stream"),
            CurrentRevision::Current(revision) => write!(formatter, "{revision}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_match_exactly_the_states_they_name() {
        use CurrentRevision::Current;
        use ExpectedRevision::{Any, Exact, StreamExists};
        let none = CurrentRevision::NoStream;
        let cases = [
            (Any, none, true),
            (Any, Current(3), true),
            (ExpectedRevision::NoStream, none, true),
            (ExpectedRevision::NoStream, Current(0), false),
            (StreamExists, none, false),
            (StreamExists, Current(0), true),
            (Exact(0), none, false),
            (Exact(4), Current(4), true),
            (Exact(4), Current(5), false),
        ];
        for (expected, current, satisfied) in cases {
            assert_eq!(current.satisfies(expected), satisfied, "{expected:?} vs {current:?}");
        }
        assert_eq!(CurrentRevision::NoStream.next(), 0);
        assert_eq!(Current(9).next(), 10);
    }
}
