//! The id of a database and the name of the file that keeps it: what every error and every
//! file header names, so they stand apart from the identity file's machinery (`identity/`).

use std::fmt;

/// Name of the identity file in the data directory.
pub const IDENTITY_FILE_NAME: &str = "IDENTITY";

/// The id of a database: 128 random bits chosen at creation. `Display` is the hyphenated
/// UUID form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DatabaseId([u8; 16]);

impl DatabaseId {
    /// A new random id (UUID version 4).
    pub fn random() -> DatabaseId {
        DatabaseId(uuid::Uuid::new_v4().into_bytes())
    }

    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> DatabaseId {
        DatabaseId(bytes)
    }

    /// The id's bytes, as file headers hold them.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0
    }
}

impl fmt::Display for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&uuid::Uuid::from_bytes(self.0).hyphenated(), f)
    }
}

impl fmt::Debug for DatabaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseId({self})")
    }
}
