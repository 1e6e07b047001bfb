//! `BigU64`: an unsigned integer above `i64::MAX`, the payload of `Value::U64`.

use std::fmt;

/// A `u64` strictly greater than `i64::MAX`: the only integers that `Value::I64` cannot hold.
///
/// Every integer has exactly one stored form (hashes over encodings depend on it): those in the
/// `i64` range are `Value::I64`, the rest of the `u64` range is `Value::U64`. Making the payload
/// a type that cannot hold a small number keeps `Value::U64(5)`, a second form of 5, from ever
/// being built. Build values with `Value::from(n)` for a `u64`, which picks the form.
///
/// ```
/// use in_mem_core_types::{BigU64, Value};
///
/// assert_eq!(BigU64::new(7), None);
/// assert_eq!(Value::from(7u64), Value::I64(7));
/// let big = BigU64::new(u64::MAX).unwrap();
/// assert_eq!(Value::from(u64::MAX), Value::U64(big));
/// assert_eq!(big.get(), u64::MAX);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BigU64(u64);

impl BigU64 {
    /// The smallest `BigU64`: `i64::MAX + 1`.
    pub const MIN: BigU64 = BigU64(i64::MAX.unsigned_abs() + 1);

    /// `n`, if it is above `i64::MAX`; `None` if `Value::I64` holds it.
    pub const fn new(n: u64) -> Option<BigU64> {
        if n >= Self::MIN.0 {
            Some(BigU64(n))
        } else {
            None
        }
    }

    /// The number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl From<BigU64> for u64 {
    fn from(n: BigU64) -> u64 {
        n.0
    }
}

/// Just the number: `Value::U64(18446744073709551615)` reads like `Value::I64(3)` does.
impl fmt::Debug for BigU64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for BigU64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}
