//! Memory wrapper: a fixed-capacity slab of `T` with generation-checked
//! handles (for the pqueue and skip list of later profiles).
//!
//! `alloc` takes the most recently freed index (LIFO free list) or, if none,
//! the next never-used index; it fails when `capacity` slots are live.
//! `free` bumps the slot's generation, so every older handle to it stops
//! working (`get`, `get_mut` and `free` return `None`). Generations wrap.

use crate::error::ShapeError;

/// A handle to a live slot: its index and the generation it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle {
    pub index: u32,
    pub generation: u32,
}

#[derive(Debug, Clone)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

#[derive(Debug, Clone)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    capacity: usize,
    live: usize,
}

impl<T> Slab<T> {
    pub fn new(capacity: usize) -> Result<Self, ShapeError> {
        if capacity == 0 {
            return Err(ShapeError::Zero("slab capacity"));
        }
        if capacity > u32::MAX as usize {
            return Err(ShapeError::TooLarge);
        }
        Ok(Slab {
            slots: Vec::new(),
            free: Vec::new(),
            capacity,
            live: 0,
        })
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Stores `value`; a full slab gives it back.
    pub fn alloc(&mut self, value: T) -> Result<Handle, T> {
        let index = if let Some(i) = self.free.pop() {
            i
        } else if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                generation: 0,
                value: None,
            });
            (self.slots.len() - 1) as u32
        } else {
            return Err(value);
        };
        let slot = &mut self.slots[index as usize];
        slot.value = Some(value);
        self.live += 1;
        Ok(Handle {
            index,
            generation: slot.generation,
        })
    }

    fn slot(&self, h: Handle) -> Option<&Slot<T>> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation && s.value.is_some())
    }

    pub fn get(&self, h: Handle) -> Option<&T> {
        self.slot(h).and_then(|s| s.value.as_ref())
    }

    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        self.slot(h)?;
        self.slots[h.index as usize].value.as_mut()
    }

    /// Frees the slot and returns its value; a stale handle gives `None`.
    pub fn free(&mut self, h: Handle) -> Option<T> {
        self.slot(h)?;
        let slot = &mut self.slots[h.index as usize];
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(h.index);
        self.live -= 1;
        slot.value.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alloc_free_and_stale_handles() {
        assert!(Slab::<u8>::new(0).is_err());
        let mut s = Slab::new(2).unwrap();
        let a = s.alloc("a").unwrap();
        let b = s.alloc("b").unwrap();
        assert_eq!((a.index, b.index), (0, 1));
        assert_eq!(s.alloc("c"), Err("c"));
        assert_eq!(s.free(a), Some("a"));
        assert_eq!(s.free(a), None, "double free");
        assert_eq!(s.get(a), None);
        let c = s.alloc("c").unwrap();
        assert_eq!(
            c,
            Handle {
                index: 0,
                generation: 1
            }
        );
        assert_eq!(s.get(a), None, "stale handle to a reused slot");
        *s.get_mut(c).unwrap() = "C";
        assert_eq!(s.get(c), Some(&"C"));
        assert_eq!((s.len(), s.capacity()), (2, 2));
        let bogus = Handle {
            index: 7,
            generation: 0,
        };
        assert_eq!(s.get(bogus), None);
        assert_eq!(s.free(bogus), None);
    }

    #[test]
    fn lifo_reuse_and_live_count() {
        let mut s = Slab::new(8).unwrap();
        let hs: Vec<Handle> = (0..8).map(|i| s.alloc(i).unwrap()).collect();
        s.free(hs[2]);
        s.free(hs[5]);
        assert_eq!(s.len(), 6);
        assert_eq!(s.alloc(50).unwrap().index, 5);
        assert_eq!(s.alloc(20).unwrap().index, 2);
        assert!(s.alloc(99).is_err());
        assert_eq!(s.get(hs[7]), Some(&7));
        assert!(!s.is_empty());
    }
}
