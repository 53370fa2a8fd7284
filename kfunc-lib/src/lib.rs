//! kfunc-lib: the eNetSTL-style kfunc library (kernel module source, Rust
//! twin and BTF declarations). It is built out by the sketches issue; the
//! foundation has no kfuncs yet.
