//! Shape and layout errors shared by every structure of the twin.

use std::fmt;

/// Why a sketch shape or a map value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShapeError {
    /// A row count, hash count, length or capacity of zero.
    Zero(&'static str),
    /// A dimension that must be a power of two is not.
    NotPowerOfTwo(&'static str, u64),
    /// A parameter outside its documented range.
    OutOfRange(&'static str, u64),
    /// The total size overflows `usize` (or the kernel's `u32` byte sizes).
    TooLarge,
    /// A map value whose byte length does not match the shape.
    BadLength { expected: usize, got: usize },
}

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShapeError::Zero(what) => write!(f, "{what} must not be zero"),
            ShapeError::NotPowerOfTwo(what, v) => {
                write!(f, "{what} must be a power of two, got {v}")
            }
            ShapeError::OutOfRange(what, v) => write!(f, "{what} out of range: {v}"),
            ShapeError::TooLarge => write!(f, "shape too large (more than 4 GiB of state)"),
            ShapeError::BadLength { expected, got } => {
                write!(f, "map value has {got} bytes, the shape needs {expected}")
            }
        }
    }
}

impl std::error::Error for ShapeError {}

/// `rows * cols` elements of `elem` bytes, checked: rows ≥ 1, cols a power of
/// two, and the byte size fits in a `u32` (the kernel's map value sizes).
pub(crate) fn grid_len(rows: u32, cols: u32, elem: usize) -> Result<usize, ShapeError> {
    if rows == 0 {
        return Err(ShapeError::Zero("rows"));
    }
    if !cols.is_power_of_two() {
        return Err(ShapeError::NotPowerOfTwo("cols", u64::from(cols)));
    }
    let n = u64::from(rows) * u64::from(cols);
    if n * elem as u64 > u64::from(u32::MAX) {
        return Err(ShapeError::TooLarge);
    }
    Ok(n as usize)
}

/// Checks that `bytes` holds exactly `len` elements of `elem` bytes.
pub(crate) fn check_len(bytes: &[u8], len: usize, elem: usize) -> Result<(), ShapeError> {
    if bytes.len() != len * elem {
        return Err(ShapeError::BadLength {
            expected: len * elem,
            got: bytes.len(),
        });
    }
    Ok(())
}

/// Decodes little-endian `u32` words.
pub(crate) fn words_le(bytes: &[u8]) -> impl Iterator<Item = u32> + '_ {
    bytes
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
}
