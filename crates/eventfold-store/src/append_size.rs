//! The maximum append size, checked while an append's events arrive: a face
//! refuses an append as soon as it grows past the limit, before buffering
//! the rest of what cannot succeed. The store checks the whole append again.

use crate::{AppendError, ProposedEvent};

/// The bytes an append has used so far against its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendSizeBudget {
    max_bytes: usize,
    used_bytes: usize,
}

impl AppendSizeBudget {
    pub fn new(max_bytes: usize) -> Self {
        Self { max_bytes, used_bytes: 0 }
    }

    /// Counts `event` ([`ProposedEvent::size_bytes`]); refuses with
    /// `MaximumAppendSizeExceeded` once the append is over the limit.
    pub fn add(&mut self, event: &ProposedEvent) -> Result<(), AppendError> {
        self.used_bytes = self.used_bytes.saturating_add(event.size_bytes());
        if self.used_bytes > self.max_bytes {
            return Err(AppendError::MaximumAppendSizeExceeded {
                size_bytes: self.used_bytes,
                max_bytes: self.max_bytes,
            });
        }
        Ok(())
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_append_may_reach_the_limit_but_not_pass_it() {
        // "T" + 9 bytes of data = 10 bytes per event.
        let event = ProposedEvent::json("T", "123456789");
        assert_eq!(event.size_bytes(), 10);
        let mut budget = AppendSizeBudget::new(20);
        assert_eq!(budget.add(&event), Ok(()));
        assert_eq!(budget.add(&event), Ok(()), "exactly at the limit is accepted");
        assert_eq!(
            budget.add(&event),
            Err(AppendError::MaximumAppendSizeExceeded { size_bytes: 30, max_bytes: 20 }),
            "one byte past it is not"
        );
        assert_eq!((budget.used_bytes(), budget.max_bytes()), (30, 20));
    }

    #[test]
    fn metadata_and_type_count_as_much_as_data() {
        let mut event = ProposedEvent::json("Typed", "");
        event.metadata = bytes::Bytes::from_static(b"12345");
        let mut budget = AppendSizeBudget::new(9);
        assert!(matches!(budget.add(&event), Err(AppendError::MaximumAppendSizeExceeded { size_bytes: 10, .. })));
    }
}
