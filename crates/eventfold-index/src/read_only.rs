//! Opening the index only to read it, for a check of a data directory no
//! process holds: nothing is written, not even the format version or the
//! compaction a normal open does.

use std::path::Path;

use redb::{ReadOnlyDatabase, ReadableDatabase};

use crate::{IndexError, IndexSnapshot};

pub struct ReadOnlyIndex {
    database: ReadOnlyDatabase,
}

impl ReadOnlyIndex {
    /// Fails on a file that is not a redb database, and on one that needs
    /// the recovery a crash leaves to the next read-write open.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        Ok(Self { database: ReadOnlyDatabase::open(path)? })
    }

    pub fn snapshot(&self) -> Result<IndexSnapshot, IndexError> {
        Ok(IndexSnapshot::new(self.database.begin_read()?))
    }
}
