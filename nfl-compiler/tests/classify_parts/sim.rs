//! A simulated kernel: the masks array value and the rules hash map as the
//! eBPF program sees them, changed only through `Delta`s.

use std::collections::HashMap;

use nfl_compiler::classify::{Classifier, Delta, Rule, image};

#[derive(Default, Clone, PartialEq, Eq, Debug)]
pub struct Kernel {
    pub masks: Vec<u8>,
    pub map: HashMap<Vec<u8>, Vec<u8>>,
}

impl Kernel {
    /// The maps as a freshly created, empty table has them.
    pub fn empty(classifier: &Classifier) -> Kernel {
        Kernel {
            masks: classifier.masks_image(),
            map: HashMap::new(),
        }
    }

    /// Applies `delta` in its documented order (puts, masks, dels), one map
    /// operation at a time, calling `step` after each.
    pub fn apply(&mut self, delta: &Delta, masks: &[u8], mut step: impl FnMut(&Kernel)) {
        for (key, value) in &delta.put {
            self.map.insert(key.clone(), value.clone());
            step(self);
        }
        if delta.masks_changed {
            self.masks = masks.to_vec();
            step(self);
        }
        for key in &delta.del {
            assert!(
                self.map.remove(key).is_some(),
                "delta deletes a key the map does not hold"
            );
            step(self);
        }
    }

    /// The eBPF lookup over these maps: the stored value of the best match.
    pub fn lookup(&self, key: &[u64]) -> Option<Vec<u8>> {
        self.lookup_counting(key).0
    }

    /// [`Kernel::lookup`], and how many rules-map probes it made.
    pub fn lookup_counting(&self, key: &[u64]) -> (Option<Vec<u8>>, usize) {
        let mut probes = 0;
        let found = image::walk(&self.masks, key, |k| {
            probes += 1;
            self.map.get(k).map(Vec::as_slice)
        });
        (found.map(<[u8]>::to_vec), probes)
    }

    /// Whether these maps hold exactly what the classifier says they should.
    pub fn assert_matches(&self, classifier: &Classifier) {
        assert_eq!(self.masks, classifier.masks_image(), "masks value differs");
        let expected: HashMap<Vec<u8>, Vec<u8>> = classifier.entries().collect();
        assert_eq!(self.map.len(), expected.len(), "rules map size differs");
        assert!(self.map == expected, "rules map contents differ");
    }
}

/// The rules-map value a rule is stored as.
pub fn value_of(rule: Option<&Rule>) -> Option<Vec<u8>> {
    rule.map(|r| image::encode_value(r.prio, r.action, &r.payload))
}
