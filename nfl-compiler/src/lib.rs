//! nfl-compiler: checked AST (and, later, config) to eBPF object bytes.
//!
//! Pure: no syscalls, no hidden file reads; the same input gives the same
//! bytes.

/// A `u32` index newtype for arenas (`HeaderId`, `BlockId`, ...), printed
/// with a prefix (`bb3`, `v12`).
#[macro_export]
macro_rules! entity {
    ($name:ident, $prefix:literal) => {
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u32);
        impl $name {
            pub fn index(self) -> usize {
                self.0 as usize
            }
        }
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!($prefix, "{}"), self.0)
            }
        }
    };
}

pub mod bpf;
pub mod classify;
pub mod elf;
pub mod entries;
pub mod estimate;
pub mod build;
pub mod check;
pub mod config;
pub mod deparse;
pub mod driver;
pub mod frontend;
pub mod hir;
pub mod ir;
pub mod lower;
pub mod maglev;
pub mod opt;
pub mod pipeline;
pub mod stdlib;
pub mod schema;
pub mod split;
pub mod table;
pub mod target;

pub use target::Target;
