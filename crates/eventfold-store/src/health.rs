use crate::StorageError;

/// Whether a store takes writes now. Reads are served either way, so a
/// liveness probe stays up while a readiness probe reports this.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreHealth {
    /// Reads and writes are served.
    Ok,
    /// Reads are served; writes are refused with this error. A transient
    /// one ([`crate::StorageErrorKind::is_transient`]: a full disk, no file
    /// descriptor) clears by itself once its condition does; a `Poisoned`
    /// one only with a restart.
    Degraded(StorageError),
}

impl StoreHealth {
    pub fn is_ok(&self) -> bool {
        matches!(self, StoreHealth::Ok)
    }
}
