//! KurrentDB's event numbers as its HTTP API writes them: a signed number
//! where the gRPC protocol has named cases. `ES-ExpectedVersion` (and
//! `Kurrent-ExpectedVersion`) carries -2 (any), -1 (no stream), -4 (the
//! stream exists) or a revision; `ES-CurrentVersion` answers -1 for a stream
//! that does not exist. Kept here, beside the types they stand for, so that
//! every face reads and writes them the same way.

use crate::{CurrentRevision, ExpectedRevision};

/// `Any` as an expected version number.
pub const EXPECTED_ANY: i64 = -2;
/// `NoStream` as an expected version number, and a missing stream's current
/// version.
pub const EXPECTED_NO_STREAM: i64 = -1;
/// `StreamExists` as an expected version number.
pub const EXPECTED_STREAM_EXISTS: i64 = -4;

/// A number that names no expectation (-3, or below -4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("expected version {0} is not one of -2 (any), -1 (no stream), -4 (stream exists) or a revision of 0 or more")]
pub struct InvalidExpectedVersion(pub i64);

impl ExpectedRevision {
    /// The expectation a KurrentDB expected version number names.
    pub fn from_event_number(number: i64) -> Result<Self, InvalidExpectedVersion> {
        match number {
            EXPECTED_ANY => Ok(ExpectedRevision::Any),
            EXPECTED_NO_STREAM => Ok(ExpectedRevision::NoStream),
            EXPECTED_STREAM_EXISTS => Ok(ExpectedRevision::StreamExists),
            revision => {
                u64::try_from(revision).map(ExpectedRevision::Exact).map_err(|_| InvalidExpectedVersion(number))
            }
        }
    }

    /// The expectation as a KurrentDB expected version number. A revision
    /// past `i64::MAX` cannot be written and is reported as the largest
    /// number.
    pub fn event_number(self) -> i64 {
        match self {
            ExpectedRevision::Any => EXPECTED_ANY,
            ExpectedRevision::NoStream => EXPECTED_NO_STREAM,
            ExpectedRevision::StreamExists => EXPECTED_STREAM_EXISTS,
            ExpectedRevision::Exact(revision) => i64::try_from(revision).unwrap_or(i64::MAX),
        }
    }
}

impl CurrentRevision {
    /// The stream's last event number, -1 when it has none, as KurrentDB
    /// reports it (`ES-CurrentVersion`). A revision past `i64::MAX` cannot
    /// be written and is reported as the largest number.
    pub fn event_number(self) -> i64 {
        match self {
            CurrentRevision::NoStream => EXPECTED_NO_STREAM,
            CurrentRevision::Current(revision) => i64::try_from(revision).unwrap_or(i64::MAX),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_version_numbers_name_the_expectations_and_nothing_else() {
        assert_eq!(ExpectedRevision::from_event_number(-2), Ok(ExpectedRevision::Any));
        assert_eq!(ExpectedRevision::from_event_number(-1), Ok(ExpectedRevision::NoStream));
        assert_eq!(ExpectedRevision::from_event_number(-4), Ok(ExpectedRevision::StreamExists));
        assert_eq!(ExpectedRevision::from_event_number(0), Ok(ExpectedRevision::Exact(0)));
        assert_eq!(ExpectedRevision::from_event_number(41), Ok(ExpectedRevision::Exact(41)));
        for invalid in [-3, -5, i64::MIN] {
            assert_eq!(ExpectedRevision::from_event_number(invalid), Err(InvalidExpectedVersion(invalid)));
        }
        for number in [-2, -1, -4, 0, 41] {
            let expected = ExpectedRevision::from_event_number(number).expect("an expectation");
            assert_eq!(expected.event_number(), number, "{expected:?} is written back as it was read");
        }
    }

    #[test]
    fn a_missing_stream_is_at_minus_one() {
        assert_eq!(CurrentRevision::NoStream.event_number(), -1);
        assert_eq!(CurrentRevision::Current(0).event_number(), 0);
        assert_eq!(CurrentRevision::Current(u64::MAX).event_number(), i64::MAX);
    }
}
