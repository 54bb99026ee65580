use std::fmt;
use std::sync::Arc;

/// Longest stream name accepted, in UTF-8 bytes. Names are index keys and
/// travel in every recorded event, so they are kept short.
pub const STREAM_NAME_MAX_BYTES: usize = 1024;

/// A validated stream name (`order-42`). Cheap to clone: every recorded event
/// carries one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamName(Arc<str>);

/// Why a string is not a stream name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidStreamName {
    #[error("stream name is empty")]
    Empty,
    #[error("stream name is {length} bytes long; the limit is {STREAM_NAME_MAX_BYTES}")]
    TooLong { length: usize },
    #[error("stream name contains a control character")]
    ControlCharacter,
    #[error("`$all` is the name of the global log, not of a stream")]
    ReservedAll,
}

impl StreamName {
    pub fn new(name: impl AsRef<str>) -> Result<Self, InvalidStreamName> {
        let name = name.as_ref();
        if name.is_empty() {
            return Err(InvalidStreamName::Empty);
        }
        if name.len() > STREAM_NAME_MAX_BYTES {
            return Err(InvalidStreamName::TooLong { length: name.len() });
        }
        if name.chars().any(char::is_control) {
            return Err(InvalidStreamName::ControlCharacter);
        }
        if name == "$all" {
            return Err(InvalidStreamName::ReservedAll);
        }
        Ok(Self(Arc::from(name)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `$`-prefixed streams belong to the system (metadata, projections).
    pub fn is_system(&self) -> bool {
        self.0.starts_with('$')
    }

    /// The category of `order-42` is `order`: the part before the first `-`
    /// (the `$by_category` projection's default). A name without `-` is its
    /// own category.
    pub fn category(&self) -> &str {
        self.0.split_once('-').map_or(&self.0, |(category, _)| category)
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl fmt::Debug for StreamName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, formatter)
    }
}

impl TryFrom<&str> for StreamName {
    type Error = InvalidStreamName;
    fn try_from(name: &str) -> Result<Self, Self::Error> {
        Self::new(name)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_system_names() {
        assert_eq!(StreamName::new("order-42").map(|n| n.category().to_owned()), Ok("order".into()));
        assert!(StreamName::new("$$order-42").is_ok_and(|n| n.is_system()));
        assert_eq!(StreamName::new("plain").map(|n| n.category().to_owned()), Ok("plain".into()));
    }

    #[test]
    fn rejects_bad_names_with_a_reason() {
        assert_eq!(StreamName::new(""), Err(InvalidStreamName::Empty));
        assert_eq!(
            StreamName::new("x".repeat(STREAM_NAME_MAX_BYTES + 1)),
            Err(InvalidStreamName::TooLong { length: STREAM_NAME_MAX_BYTES + 1 })
        );
        assert_eq!(StreamName::new("a\nb"), Err(InvalidStreamName::ControlCharacter));
        assert_eq!(StreamName::new("$all"), Err(InvalidStreamName::ReservedAll));
        assert!(StreamName::new("x".repeat(STREAM_NAME_MAX_BYTES)).is_ok());
    }
}
