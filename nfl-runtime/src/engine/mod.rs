//! The userspace engine: runs the very eBPF object nflc emits, without the
//! kernel (docs/engine.md). `image` reads and links the object, `vm` is the
//! memory model and calling convention, `interp` the reference
//! interpreter, `jit` the Cranelift compiler, `maps`, `calls` and `kfuncs`
//! what programs call.

pub mod calls;
pub mod env;
pub mod image;
pub mod jit;
pub mod kfuncs;
pub mod maps;
pub mod vm;

/// Why the engine could not take an object.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot run this object in the userspace engine: {0}")]
    Object(String),
    #[error("cannot compile `{program}` to native code: {message}")]
    Jit { program: String, message: String },
}
