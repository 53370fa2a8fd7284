//! kfunc-lib: the eNetSTL-style kfunc library, Rust twin.
//!
//! Pure Rust, no dependencies, no `unsafe`. Every algorithm here is the
//! binding reference for the kernel module (`module/`, same algorithms in
//! `module/nfl_algos.h`) and for the compiler's pure-eBPF lowerings; the
//! contract is docs/kfunc-lib.md. The control plane also uses the twin to
//! decode sketch state read from pinned maps (`from_bytes`).

#![forbid(unsafe_code)]

pub mod bits;
pub mod bloom;
pub mod buckets;
pub mod count_min;
pub mod count_sketch;
pub mod error;
pub mod hash;
pub mod hll;
pub mod nitro;
pub mod pqueue;
pub mod randpool;
pub mod slab;
pub mod topk;

pub use bloom::Bloom;
pub use buckets::Buckets;
pub use count_min::CountMin;
pub use count_sketch::CountSketch;
pub use error::ShapeError;
pub use hash::{multi_hash, murmur3_32, row_seed};
pub use hll::Hll;
pub use nitro::{Nitro, NitroState};
pub use pqueue::PQueue;
pub use randpool::{RandPool, XorShift64Star};
pub use slab::{Handle, Slab};
pub use topk::SpaceSaving;
