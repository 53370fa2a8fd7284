//! eBPF machine level: instructions, encoding and disassembly.

pub mod insn;

pub use insn::Insn;
