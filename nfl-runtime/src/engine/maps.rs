//! Maps with the kernel's semantics.

/// Every map of an engine, indexed as the image numbers them.
#[derive(Default)]
pub struct MapSet {
    pub maps: Vec<()>,
}
