//! The module's algorithms (module/nfl_algos.h, compiled for userspace with
//! gcc through tests/harness.c) give exactly the Rust twin's results.

mod common;

use std::process::Command;

use kfunc_lib::{
    Bloom, CountMin, CountSketch, Hll, Nitro, RandPool, bits, hash::multi_hash, murmur3_32,
};

/// key(i) = le32(i) ++ le32(i * 0x9E3779B9), as the harness builds it.
fn key_of(i: u32) -> [u8; 8] {
    let mut k = [0; 8];
    k[..4].copy_from_slice(&i.to_le_bytes());
    k[4..].copy_from_slice(&i.wrapping_mul(0x9E37_79B9).to_le_bytes());
    k
}

fn unhex(s: &str) -> Vec<u8> {
    if s == "-" {
        return Vec::new();
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn num<T: std::str::FromStr>(s: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    s.parse().unwrap()
}

fn harness_output() -> Option<String> {
    let test = "c_module_algorithms_equal_the_twin";
    if !common::have_tool("gcc") {
        common::missing(test, "gcc is not installed (install gcc)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("harness");
    let root = common::crate_dir();
    let out = Command::new("gcc")
        .args(["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("module"))
        .arg(root.join("tests/harness.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run the harness");
    assert!(run.status.success());
    Some(String::from_utf8(run.stdout).unwrap())
}

fn check_line(f: &[&str]) {
    match f[0] {
        "murmur" => {
            let got: u32 = num(f[3]);
            assert_eq!(got, murmur3_32(&unhex(f[1]), num(f[2])));
        }
        "multi" => {
            let k: usize = num(f[2]);
            let mut out = vec![0; k];
            multi_hash(&unhex(f[1]), k, &mut out);
            let got: Vec<u32> = f[3..].iter().map(|s| num(s)).collect();
            assert_eq!(got, out);
        }
        "bits" => {
            let x: u64 = num(f[1]);
            let y = x as u32;
            let want = [
                bits::ffs32(y),
                bits::ffs64(x),
                bits::tzcnt32(y),
                bits::tzcnt64(x),
                bits::lzcnt32(y),
                bits::lzcnt64(x),
                bits::popcnt32(y),
                bits::popcnt64(x),
            ];
            let got: Vec<u32> = f[2..].iter().map(|s| num(s)).collect();
            assert_eq!(got, want);
        }
        "cm" | "cmq" | "cs" | "csq" => {
            let (r, c, n): (u32, u32, u32) = (num(f[1]), num(f[2]), num(f[3]));
            let mut cm = CountMin::new(r, c).unwrap();
            let mut cs = CountSketch::new(r, c).unwrap();
            for i in 0..n {
                cm.add(&key_of(i), i % 7 + 1);
                cs.add(&key_of(i), (i % 7 + 1) as i32);
            }
            match f[0] {
                "cm" => assert_eq!(unhex(f[4]), cm.to_bytes()),
                "cs" => assert_eq!(unhex(f[4]), cs.to_bytes()),
                "cmq" => assert_eq!(num::<u32>(f[5]), cm.query(&key_of(num(f[4])))),
                _ => assert_eq!(num::<i64>(f[5]), cs.query(&key_of(num(f[4])))),
            }
        }
        "bloom" | "bloomq" => {
            let (m, k, n): (u32, u32, u32) = (num(f[1]), num(f[2]), num(f[3]));
            let mut b = Bloom::new(m, k).unwrap();
            (0..n).for_each(|i| b.add(&key_of(i)));
            if f[0] == "bloom" {
                assert_eq!(unhex(f[4]), b.to_bytes());
            } else {
                assert_eq!(f[5] == "1", b.contains(&key_of(num(f[4]))));
            }
        }
        "hll" => {
            let mut h = Hll::new(num(f[1])).unwrap();
            (0..num::<u32>(f[2])).for_each(|i| h.add(&key_of(i)));
            assert_eq!(unhex(f[3]), h.to_bytes());
        }
        "pool" => {
            let pool = RandPool::new(num(f[1]), num(f[2]), num(f[3]), num(f[4])).unwrap();
            let got: Vec<u32> = f[5..].iter().map(|s| num(s)).collect();
            assert_eq!(got, pool.values());
        }
        "nitro" => {
            let (r, c, seed, len, d, n): (u32, u32, u64, usize, u32, u32) = (
                num(f[1]),
                num(f[2]),
                num(f[3]),
                num(f[4]),
                num(f[5]),
                num(f[6]),
            );
            let pool = RandPool::new(seed, len, 1, d).unwrap();
            let mut nitro = Nitro::new(r, c, &pool).unwrap();
            (0..n).for_each(|i| nitro.add(&key_of(i % 50), i % 3 + 1));
            assert_eq!(unhex(f[7]), nitro.sketch().to_bytes());
            let st = nitro.state();
            assert_eq!((num::<u32>(f[8]), num::<u32>(f[9])), (st.skip, st.cursor));
        }
        other => panic!("unknown harness line kind {other}"),
    }
}

#[test]
fn c_module_algorithms_equal_the_twin() {
    let Some(text) = harness_output() else {
        return;
    };
    let mut kinds = std::collections::BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let result = std::panic::catch_unwind(|| check_line(&f));
        assert!(result.is_ok(), "C and Rust disagree on: {line}");
        *kinds.entry(f[0]).or_insert(0) += 1;
    }
    // Every kind of line is there, so a harness that stopped early fails.
    let want = [
        "bits", "bloom", "bloomq", "cm", "cmq", "cs", "csq", "hll", "multi", "murmur", "nitro",
        "pool",
    ];
    assert_eq!(kinds.keys().copied().collect::<Vec<_>>(), want);
    assert!(kinds["murmur"] >= 90 && kinds["bits"] >= 500, "{kinds:?}");
}
