//! eBPF machine level: instructions, encoding and disassembly.

pub mod disasm;
pub mod encode;
pub mod insn;

pub use disasm::{disasm, disasm_insn};
pub use encode::{DecodeError, decode, encode};
pub use insn::Insn;
