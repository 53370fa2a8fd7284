//! nfl-compiler: checked AST (and, later, config) to eBPF object bytes.
//!
//! Pure: no syscalls, no hidden file reads; the same input gives the same
//! bytes.

pub mod bpf;
pub mod elf;
pub mod build;
pub mod check;
pub mod driver;
pub mod frontend;
pub mod hir;
pub mod ir;
pub mod lower;
pub mod opt;
pub mod pipeline;
pub mod stdlib;
