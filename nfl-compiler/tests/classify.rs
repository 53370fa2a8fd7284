//! The TSS classifier against the reference linear scan: random rule sets
//! and edits through simulated kernel maps, limits, range expansion, and a
//! 10,000-rule firewall.

#[path = "classify_parts/gen.rs"]
mod generate;
#[path = "classify_parts/sim.rs"]
mod sim;

use std::time::Instant;

use nfl_compiler::classify::expand::width_mask;
use nfl_compiler::classify::{
    Classifier, ClassifyError, Delta, FieldMatch, MAX_MASKS_LIMIT, Rule, capacity, reference_lookup,
};
use proptest::prelude::*;

use generate::{FIREWALL_WIDTHS, Rng, firewall, keys};
use sim::{Kernel, value_of};

const PAYLOAD: usize = 3;

fn rule(matches: Vec<FieldMatch>, prio: u32) -> Rule {
    Rule {
        matches,
        prio,
        action: prio % 5,
        payload: vec![prio as u8; PAYLOAD],
    }
}

// ---- proptest strategies ----

fn width() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 1..=8u32, 1 => Just(16u32), 1 => Just(32u32), 1 => Just(64u32), 1 => 1..=64u32]
}

/// Values near 0 and near the top are likelier, so rules overlap and share keys.
fn value(width: u32) -> impl Strategy<Value = u64> {
    let top = width_mask(width);
    prop_oneof![
        any::<u64>().prop_map(move |v| v & top),
        (0..4u64).prop_map(move |v| v & top),
        (0..4u64).prop_map(move |v| top - (v & top)),
    ]
}

fn field(width: u32) -> BoxedStrategy<FieldMatch> {
    prop_oneof![
        value(width).prop_map(FieldMatch::Exact),
        (value(width), 0..=width).prop_map(|(value, len)| FieldMatch::Prefix { value, len }),
        (value(width), value(width)).prop_map(|(value, mask)| FieldMatch::Ternary { value, mask }),
        (value(width), value(width)).prop_map(|(a, b)| FieldMatch::Range {
            lo: a.min(b),
            hi: a.max(b)
        }),
        Just(FieldMatch::Any),
    ]
    .boxed()
}

fn rule_for(widths: Vec<u32>) -> impl Strategy<Value = Rule> {
    let fields: Vec<_> = widths.iter().map(|&w| field(w)).collect();
    (fields, 0..120u32).prop_map(|(matches, prio)| rule(matches, prio))
}

#[derive(Clone, Debug)]
enum Op {
    Insert(Rule),
    /// Removes the live rule at this index (modulo), or a missing priority.
    Remove(usize),
}

#[derive(Clone, Debug)]
struct Case {
    widths: Vec<u32>,
    max_masks: u32,
    max_entries: u32,
    ops: Vec<Op>,
    seed: u64,
}

fn case(max_ops: usize) -> impl Strategy<Value = Case> {
    prop::collection::vec(width(), 1..=4).prop_flat_map(move |widths| {
        let op = prop_oneof![
            3 => rule_for(widths.clone()).prop_map(Op::Insert),
            1 => any::<usize>().prop_map(Op::Remove),
        ];
        let ops = prop::collection::vec(op, 1..max_ops);
        (
            Just(widths),
            prop_oneof![1..=8u32, 8..=64u32],
            1..=600u32,
            ops,
            any::<u64>(),
        )
            .prop_map(|(widths, max_masks, max_entries, ops, seed)| Case {
                widths,
                max_masks,
                max_entries,
                ops,
                seed,
            })
    })
}

// ---- the differential check ----

/// Everything observable about a classifier: masks value, rules map, stats.
type Snapshot = (Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>, String);

/// A snapshot, to prove a failed change left the classifier alone.
fn snapshot(c: &Classifier) -> Snapshot {
    (
        c.masks_image(),
        c.entries().collect(),
        format!("{:?}", c.stats()),
    )
}

/// The reference answer for each key over `rules`.
fn expected(widths: &[u32], rules: &[Rule], keys: &[Vec<u64>]) -> Vec<Option<Vec<u8>>> {
    keys.iter()
        .map(|k| value_of(reference_lookup(widths, rules, k)))
        .collect()
}

/// Runs a case through a classifier and a simulated kernel fed only by
/// deltas. After every change the kernel holds the classifier's images and
/// all three lookups agree; while a delta is being applied, every lookup
/// gives the answer from before or the one from after the change.
fn run(case: &Case) -> Result<(), TestCaseError> {
    let mut c = Classifier::new(case.widths.clone(), case.max_masks, PAYLOAD)
        .map_err(|e| TestCaseError::fail(e.to_string()))?
        .with_max_entries(case.max_entries);
    let mut kernel = Kernel::empty(&c);
    let mut live: Vec<Rule> = Vec::new();
    let mut rng = Rng(case.seed);
    for op in &case.ops {
        let probes = keys(&mut rng, &case.widths, &live, 12);
        let before_answers = expected(&case.widths, &live, &probes);
        let before = snapshot(&c);
        let result = match op {
            Op::Insert(rule) => c.insert(rule.clone()),
            Op::Remove(i) if live.is_empty() => c.remove(*i as u32),
            Op::Remove(i) => c.remove(live[i % live.len()].prio),
        };
        let delta = match result {
            Ok(delta) => delta,
            Err(err) => {
                check_refusal(&err, op, &live, case)?;
                prop_assert_eq!(
                    &before,
                    &snapshot(&c),
                    "failed change altered the classifier"
                );
                continue;
            }
        };
        match op {
            Op::Insert(rule) => live.push(rule.clone()),
            Op::Remove(i) => {
                live.remove(i % live.len());
            }
        }
        let after_answers = expected(&case.widths, &live, &probes);
        kernel.apply(&delta, &c.masks_image(), |k| {
            for (i, key) in probes.iter().enumerate() {
                let got = k.lookup(key);
                assert!(
                    got == before_answers[i] || got == after_answers[i],
                    "mid-delta lookup of {key:?} is neither the old nor the new answer"
                );
            }
        });
        kernel.assert_matches(&c);
        for (key, want) in probes.iter().zip(&after_answers) {
            prop_assert_eq!(
                &value_of(c.lookup(key)),
                want,
                "Classifier::lookup of {:?}",
                key
            );
            prop_assert_eq!(&kernel.lookup(key), want, "image walk of {:?}", key);
        }
    }
    prop_assert_eq!(c.stats().rules, live.len());
    Ok(())
}

/// A refused change must be refused for a reason the case explains.
fn check_refusal(
    err: &ClassifyError,
    op: &Op,
    live: &[Rule],
    case: &Case,
) -> Result<(), TestCaseError> {
    match (err, op) {
        (ClassifyError::DuplicatePriority { prio }, Op::Insert(_)) => {
            prop_assert!(live.iter().any(|r| r.prio == *prio));
        }
        (ClassifyError::TooManyMasks { needed, max }, Op::Insert(_)) => {
            prop_assert!(*needed > *max as usize && *max == case.max_masks);
        }
        (ClassifyError::TooManyEntries { needed, max }, Op::Insert(_)) => {
            prop_assert!(*needed > *max && *max == u64::from(case.max_entries));
        }
        (ClassifyError::NoSuchRule { .. }, Op::Remove(_)) => prop_assert!(live.is_empty()),
        _ => prop_assert!(false, "unexpected refusal {err:?} of {op:?}"),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn classifier_equals_reference_through_edits(case in case(60)) {
        run(&case)?;
    }

    #[test]
    fn removing_everything_empties_the_maps(case in case(30), order in any::<u64>()) {
        let mut c = Classifier::new(case.widths.clone(), 64, PAYLOAD).unwrap();
        let mut kernel = Kernel::empty(&c);
        for op in &case.ops {
            if let Op::Insert(r) = op && let Ok(delta) = c.insert(r.clone()) {
                kernel.apply(&delta, &c.masks_image(), |_| {});
            }
        }
        let mut prios: Vec<u32> = c.rules().iter().map(|r| r.prio).collect();
        let mut rng = Rng(order);
        while !prios.is_empty() {
            let prio = prios.swap_remove(rng.below(prios.len() as u64) as usize);
            let delta = c.remove(prio).unwrap();
            kernel.apply(&delta, &c.masks_image(), |_| {});
            kernel.assert_matches(&c);
        }
        prop_assert!(kernel.map.is_empty());
        prop_assert_eq!(c.stats(), Default::default());
        prop_assert_eq!(&kernel.masks[..4], &[0u8; 4]);
    }
}

// ---- limits ----

#[test]
fn too_many_masks_leaves_the_classifier_unchanged() {
    let mut c = Classifier::new(vec![16, 8], 4, PAYLOAD).unwrap();
    c.insert(rule(vec![FieldMatch::Exact(80), FieldMatch::Any], 10))
        .unwrap();
    c.insert(rule(vec![FieldMatch::Exact(443), FieldMatch::Exact(6)], 20))
        .unwrap();
    let before = snapshot(&c);
    // 1024..=65535 is 6 prefixes of 6 lengths: 6 new masks on top of 2.
    let wide = rule(
        vec![
            FieldMatch::Range {
                lo: 1024,
                hi: 65535,
            },
            FieldMatch::Any,
        ],
        30,
    );
    assert_eq!(
        c.insert(wide.clone()),
        Err(ClassifyError::TooManyMasks { needed: 8, max: 4 })
    );
    assert_eq!(snapshot(&c), before);
    // With the exact field's mask, the range shares one existing tuple.
    let narrow = rule(
        vec![FieldMatch::Range { lo: 0, hi: 1023 }, FieldMatch::Any],
        30,
    );
    assert!(c.insert(narrow).is_ok());
    assert_eq!(c.stats().masks, 3);
}

#[test]
fn too_many_entries_counts_shared_keys_once() {
    let mut c = Classifier::new(vec![8], 8, PAYLOAD)
        .unwrap()
        .with_max_entries(4);
    c.insert(rule(vec![FieldMatch::Range { lo: 0, hi: 127 }], 1))
        .unwrap();
    c.insert(rule(vec![FieldMatch::Range { lo: 128, hi: 191 }], 2))
        .unwrap();
    // 0..=191 is the two keys above: nothing new.
    c.insert(rule(vec![FieldMatch::Range { lo: 0, hi: 191 }], 3))
        .unwrap();
    assert_eq!(c.stats().entries, 2);
    assert_eq!(c.stats().expansions, 4);
    let before = snapshot(&c);
    // 1..=254 is 14 prefixes; 128..=191 is one of them.
    let many = rule(vec![FieldMatch::Range { lo: 1, hi: 254 }], 4);
    assert_eq!(
        c.insert(many),
        Err(ClassifyError::TooManyEntries { needed: 15, max: 4 })
    );
    let three_new = rule(vec![FieldMatch::Range { lo: 0, hi: 254 }], 5);
    assert_eq!(
        c.insert(three_new),
        Err(ClassifyError::TooManyEntries { needed: 8, max: 4 })
    );
    assert_eq!(snapshot(&c), before);
}

#[test]
fn shadowed_rules_come_back() {
    let mut c = Classifier::new(vec![8], 8, PAYLOAD).unwrap();
    let low = rule(
        vec![FieldMatch::Prefix {
            value: 0x40,
            len: 2,
        }],
        1,
    );
    let high = rule(
        vec![FieldMatch::Ternary {
            value: 0x7f,
            mask: 0xc0,
        }],
        2,
    );
    let mut kernel = Kernel::empty(&c);
    for r in [&low, &high] {
        let delta = c.insert(r.clone()).unwrap();
        kernel.apply(&delta, &c.masks_image(), |_| {});
    }
    assert_eq!(c.stats().entries, 1);
    assert_eq!(kernel.lookup(&[0x55]), value_of(Some(&high)));
    let delta = c.remove(2).unwrap();
    assert_eq!((delta.put.len(), delta.del.len()), (1, 0));
    kernel.apply(&delta, &c.masks_image(), |_| {});
    assert_eq!(kernel.lookup(&[0x55]), value_of(Some(&low)));
    kernel.assert_matches(&c);
}

#[test]
fn bad_input_is_refused() {
    let err = |widths: Vec<u32>, m| Classifier::new(widths, m, 0).err();
    assert_eq!(
        err(vec![8, 0], 4),
        Some(ClassifyError::BadWidth { field: 1, width: 0 })
    );
    assert_eq!(
        err(vec![65], 4),
        Some(ClassifyError::BadWidth {
            field: 0,
            width: 65
        })
    );
    assert!(matches!(
        err(vec![8; 64], 4),
        Some(ClassifyError::TooManyFields { .. })
    ));
    assert!(matches!(
        err(vec![8], MAX_MASKS_LIMIT + 1),
        Some(ClassifyError::MaskBound { .. })
    ));
    let mut c = Classifier::new(vec![8, 8], 4, PAYLOAD).unwrap();
    let any2 = vec![FieldMatch::Any, FieldMatch::Any];
    assert_eq!(
        c.insert(rule(vec![FieldMatch::Any], 1)),
        Err(ClassifyError::FieldCount {
            expected: 2,
            got: 1
        })
    );
    let mut short = rule(any2.clone(), 1);
    short.payload.pop();
    assert_eq!(
        c.insert(short),
        Err(ClassifyError::PayloadLen {
            expected: 3,
            got: 2
        })
    );
    c.insert(rule(any2.clone(), 1)).unwrap();
    assert_eq!(
        c.insert(rule(any2, 1)),
        Err(ClassifyError::DuplicatePriority { prio: 1 })
    );
    assert_eq!(c.remove(9), Err(ClassifyError::NoSuchRule { prio: 9 }));
}

#[test]
fn images_have_the_documented_layout() {
    let mut c = Classifier::new(vec![16, 8], 3, PAYLOAD).unwrap();
    c.insert(rule(vec![FieldMatch::Exact(0x1234), FieldMatch::Any], 7))
        .unwrap();
    c.insert(rule(vec![FieldMatch::Any, FieldMatch::Exact(6)], 9))
        .unwrap();
    let masks = c.masks_image();
    assert_eq!(masks.len(), 8 + 3 * (8 + 16));
    let slot = |i: usize| &masks[8 + i * 24..8 + (i + 1) * 24];
    assert_eq!(&masks[..8], &[2, 0, 0, 0, 0, 0, 0, 0]);
    // max_prio 9, tuple 1, masks [0, 0xff] first; then 7, tuple 0, [0xffff, 0].
    assert_eq!(&slot(0)[..8], &[9, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(
        &slot(0)[8..],
        &[0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0]
    );
    assert_eq!(&slot(1)[..8], &[7, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(slot(2), &[0; 24]);
    let entries: Vec<_> = c.entries().collect();
    let mut key = vec![0u8; 8];
    key.extend_from_slice(&0x1234u64.to_le_bytes());
    key.extend_from_slice(&[0; 8]);
    assert_eq!(entries[0], (key, vec![7, 0, 0, 0, 2, 0, 0, 0, 7, 7, 7]));
}

#[test]
fn capacity_counts_entries_and_masks() {
    let rules = vec![
        rule(
            vec![FieldMatch::Range { lo: 1, hi: 14 }, FieldMatch::Any],
            1,
        ),
        rule(
            vec![
                FieldMatch::Range { lo: 0, hi: 15 },
                FieldMatch::Ternary { value: 1, mask: 1 },
            ],
            2,
        ),
        rule(vec![FieldMatch::Exact(1), FieldMatch::Any], 3),
    ];
    let stats = capacity(&[4, 4], PAYLOAD, &rules).unwrap();
    assert_eq!((stats.rules, stats.expansions, stats.entries), (3, 8, 7));
    assert_eq!((stats.masks, stats.max_entries_per_rule), (4, 6));
    let huge = rule(vec![FieldMatch::Range { lo: 1, hi: 14 }; 2], 1);
    assert!(capacity(&[4, 4], PAYLOAD, &[huge]).is_ok());
    let wide = vec![
        FieldMatch::Range {
            lo: 1,
            hi: u64::MAX - 1
        };
        4
    ];
    assert!(matches!(
        capacity(&[64; 4], PAYLOAD, &[rule(wide, 1)]),
        Err(ClassifyError::TooManyEntries { .. })
    ));
}

// ---- the 10,000-rule firewall ----

/// Applies deltas gathered without their masks images: right for the final
/// state, which is all a bulk check looks at.
fn apply_all(kernel: &mut Kernel, deltas: &[Delta], c: &Classifier) {
    let masks = c.masks_image();
    deltas.iter().for_each(|d| kernel.apply(d, &masks, |_| {}));
    kernel.assert_matches(c);
}

/// Checks `count` keys: reference, `Classifier::lookup` and the image walk.
fn check_keys(c: &Classifier, kernel: &Kernel, rules: &[Rule], count: usize, seed: u64) {
    let probes = keys(&mut Rng(seed), &FIREWALL_WIDTHS, rules, count);
    let (mut hits, mut walked, start) = (0, 0, Instant::now());
    for key in &probes {
        let want = reference_lookup(&FIREWALL_WIDTHS, rules, key);
        assert_eq!(
            c.lookup(key).map(|r| r.prio),
            want.map(|r| r.prio),
            "key {key:?}"
        );
        let (got, probes) = kernel.lookup_counting(key);
        assert_eq!(got, value_of(want), "image walk of {key:?}");
        hits += usize::from(want.is_some_and(|r| r.prio > 0));
        walked += probes;
    }
    eprintln!(
        "{count} keys ({hits} hit a rule other than the catch-all; {:.1} probes per lookup) \
         checked in {:?}",
        walked as f64 / count as f64,
        start.elapsed()
    );
}

#[test]
fn ten_thousand_rules_equal_the_reference() {
    let mut rules = firewall(0x5eed, 10_000);
    let mut c = Classifier::new(FIREWALL_WIDTHS.to_vec(), MAX_MASKS_LIMIT, 4).unwrap();
    let start = Instant::now();
    let deltas: Vec<Delta> = rules.iter().map(|r| c.insert(r.clone()).unwrap()).collect();
    eprintln!(
        "10,000 rules: inserted in {:?}; {:?}",
        start.elapsed(),
        c.stats()
    );
    let mut kernel = Kernel::empty(&c);
    apply_all(&mut kernel, &deltas, &c);
    // The reference scans every rule per key: fewer keys in debug builds.
    let count = if cfg!(debug_assertions) {
        4_000
    } else {
        100_000
    };
    check_keys(&c, &kernel, &rules, count, 7);

    let start = Instant::now();
    let gone: Vec<u32> = rules.iter().step_by(2).map(|r| r.prio).collect();
    let deltas: Vec<Delta> = gone.iter().map(|&p| c.remove(p).unwrap()).collect();
    eprintln!(
        "5,000 rules: removed in {:?}; {:?}",
        start.elapsed(),
        c.stats()
    );
    apply_all(&mut kernel, &deltas, &c);
    rules.retain(|r| !gone.contains(&r.prio));
    check_keys(&c, &kernel, &rules, count / 10, 8);
}
