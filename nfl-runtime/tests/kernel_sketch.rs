//! Sketches in the kernel against the Rust twin in `kfunc-lib`: the same
//! packets leave byte-identical sketch values and the same verdicts; and
//! the accuracy the issue promises, on a million Zipf(1.1) keys read back
//! through the control plane's decoder.

use kfunc_lib::{Bloom, CountMin, CountSketch, Hll, XorShift64Star};
use std::ops::AddAssign;
use nfl_compiler::schema::Schema;
use nfl_runtime::sketch::{self, Answer, SketchState};
use nfl_runtime::state::MapSet;

fn build(name: &str, source: &str) -> (nfl_runtime::LoadedProgram, Schema) {
    let build = nfl_compiler::driver::build(name, source, &mut nfl_compiler::frontend::NoModules)
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    let prog = nfl_runtime::load(&build.object, None).expect("the verifier accepts the sketches");
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill the maps");
    let schema = Schema::from_object(&build.object).expect("schema").expect("an nflc object");
    (prog, schema)
}


/// An Ethernet + IPv4 + UDP frame.
fn frame(src: u32, dst: u32, ttl: u8, sport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12] = 0x08;
    f[14] = 0x45;
    f[17] = 46;
    f[22] = ttl;
    f[23] = 17;
    f[26..30].copy_from_slice(&src.to_be_bytes());
    f[30..34].copy_from_slice(&dst.to_be_bytes());
    f[34..36].copy_from_slice(&sport.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}

const NET: u32 = 0xc612_0000; // 198.18.0.0/15

const AGREE: &str = "import std.net
sketch cm: count_min(rows = 4, cols = 1024) keyed ipv4.src
sketch cs: count_sketch(rows = 5, cols = 512) keyed (ipv4.src, udp.src_port)
sketch bl: bloom(bits = 4096, hashes = 5) keyed ipv4.src
sketch hl: hyperloglog(p = 12) keyed ipv4.src
sketch once: bloom(bits = 2048, hashes = 3) keyed (ipv4.dst, ipv4.ttl)
control s(xdp) {
    if !ipv4.valid { pass }
    cm.add(ipv4.src, ipv4.ttl as u32)
    hl.add()
    if udp.valid { cs.add(udp.src_port as u32) }
    if cm.query() > 3000 { drop }
    if bl.contains(ipv4.dst) { tx }
    bl.add()
    if !once.insert() { redirect(1) }
    pass
}
";

/// The twin's view of AGREE.
struct Twin {
    cm: CountMin,
    cs: CountSketch,
    bl: Bloom,
    hl: Hll,
    once: Bloom,
}

impl Twin {
    fn packet(&mut self, src: u32, dst: u32, ttl: u8, sport: u16) -> u32 {
        let k = src.to_le_bytes();
        self.cm.add(&k, u32::from(ttl));
        self.hl.add(&k);
        let mut k2 = [0u8; 8];
        k2[..4].copy_from_slice(&src.to_le_bytes());
        k2[4..6].copy_from_slice(&sport.to_le_bytes());
        self.cs.add(&k2, i32::from(sport));
        if self.cm.query(&k) > 3000 {
            return 1; // XDP_DROP
        }
        if self.bl.contains(&dst.to_le_bytes()) {
            return 3; // XDP_TX
        }
        self.bl.add(&k);
        let mut k3 = [0u8; 8];
        k3[..4].copy_from_slice(&dst.to_le_bytes());
        k3[4] = ttl;
        let new = !self.once.contains(&k3);
        self.once.add(&k3);
        if new { 2 } else { 4 } // XDP_PASS, XDP_REDIRECT
    }
}

#[test]
fn kernel_sketches_equal_the_rust_twin_byte_for_byte() {
    if !nfl_runtime::require_kernel("kernel_sketches_equal_the_rust_twin_byte_for_byte") {
        return;
    }
    let (prog, schema) = build("agree.nf", AGREE);
    let mut twin = Twin {
        cm: CountMin::new(4, 1024).unwrap(),
        cs: CountSketch::new(5, 512).unwrap(),
        bl: Bloom::new(4096, 5).unwrap(),
        hl: Hll::new(12).unwrap(),
        once: Bloom::new(2048, 3).unwrap(),
    };
    let mut rng = XorShift64Star::new(7);
    let mut verdicts = [0usize; 5];
    for i in 0..5000 {
        let r = rng.next_u64();
        let src = NET + (r % 300) as u32;
        let dst = NET + ((r >> 16) % 600) as u32;
        let (ttl, sport) = ((r >> 32) as u8, (r >> 40) as u16);
        let got = nfl_runtime::test_run(prog.fd(), &frame(src, dst, ttl, sport), 1).expect("test run").retval;
        let want = twin.packet(src, dst, ttl, sport);
        assert_eq!(got, want, "packet {i}: kernel verdict {got}, twin {want}");
        verdicts[want as usize] += 1;
    }
    // Every branch was taken, so the comparison meant something.
    assert!(verdicts[1..].iter().all(|&n| n > 0), "verdicts {verdicts:?}");
    let maps = MapSet::from_loaded(&prog, &schema).expect("maps");
    let read = |name: &str| sketch::read(&maps, sketch::find(&schema, name).expect(name)).expect("read").to_bytes();
    assert!(read("cm") == twin.cm.to_bytes(), "count-min counters differ");
    assert!(read("cs") == twin.cs.to_bytes(), "count-sketch counters differ");
    assert!(read("bl") == twin.bl.to_bytes(), "Bloom bits differ");
    assert!(read("hl") == twin.hl.to_bytes(), "HyperLogLog registers differ");
    assert!(read("once") == twin.once.to_bytes(), "Bloom bits (insert) differ");
}

/// Zipf(s) over ranks `1..=n` by inverting a precomputed CDF.
struct Zipf {
    cdf: Vec<f64>,
    rng: XorShift64Star,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                acc += (k as f64).powf(-s);
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        Zipf { cdf, rng: XorShift64Star::new(seed) }
    }

    /// A rank in `0..n` (0 the most frequent).
    fn sample(&mut self) -> usize {
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

const ACCURACY: &str = "import std.net
sketch talkers: topk(k = 20, eps = 0.001, delta = 0.01) keyed ipv4.src
sketch sources: hyperloglog(p = 14) keyed ipv4.src
control s(xdp) {
    if !ipv4.valid { pass }
    talkers.add()
    sources.add()
    pass
}
";

#[test]
fn a_million_zipf_keys_stay_within_the_stated_bounds() {
    if !nfl_runtime::require_kernel("a_million_zipf_keys_stay_within_the_stated_bounds") {
        return;
    }
    const N: usize = 1_000_000;
    const UNIVERSE: usize = 100_000;
    let (eps, delta) = (0.001, 0.01);
    let (prog, schema) = build("accuracy.nf", ACCURACY);
    let mut zipf = Zipf::new(UNIVERSE, 1.1, 2026);
    let mut exact = vec![0u32; UNIVERSE];
    let mut f = frame(NET, NET + 1, 64, 1000);
    for _ in 0..N {
        let rank = zipf.sample();
        exact[rank] += 1;
        f[26..30].copy_from_slice(&(NET + rank as u32).to_be_bytes());
        let r = nfl_runtime::test_run(prog.fd(), &f, 1).expect("test run");
        assert_eq!(r.retval, 2);
    }
    let maps = MapSet::from_loaded(&prog, &schema).expect("maps");
    let cm_schema = sketch::find(&schema, "talkers").unwrap();
    let cm = sketch::read(&maps, cm_schema).expect("read talkers");
    let bound = eps * N as f64;
    let (mut over, mut worst, mut keys) = (0usize, 0u32, 0usize);
    for (rank, &count) in exact.iter().enumerate().filter(|(_, c)| **c > 0) {
        keys += 1;
        let key = sketch::encode_key(cm_schema, &[u64::from(NET) + rank as u64]);
        let Answer::Count(est) = cm.query(&key) else { panic!("count-min answers counts") };
        assert!(est >= count, "count-min never underestimates (rank {rank}: {est} < {count})");
        worst = worst.max(est - count);
        over += usize::from(f64::from(est - count) > bound);
    }
    eprintln!("count-min: {keys} keys, worst overestimate {worst} (bound {bound}), {over} over the bound");
    assert!((over as f64) <= delta * keys as f64, "{over} of {keys} keys exceed eps·N = {bound}");
    // Top-k recall: the 20 heaviest by exact count against what the
    // control plane ranks (ties at the 20th count are all accepted).
    let mut by_count: Vec<(u32, usize)> = exact.iter().enumerate().map(|(r, &c)| (c, r)).collect();
    by_count.sort_by(|a, b| b.cmp(a));
    let floor = by_count[19].0;
    let top = sketch::top(&maps, cm_schema, 20).expect("top");
    let ranks: Vec<usize> = top.iter().map(|(k, _)| (sketch::decode_key(cm_schema, k)[0] - u64::from(NET)) as usize).collect();
    let hits = ranks.iter().filter(|&&r| exact[r] >= floor).count();
    eprintln!("top-20: {hits} of 20 among the true top 20 (floor {floor})");
    assert!(hits as f64 / 20.0 >= 0.95, "top-20 recall {hits}/20: {ranks:?}");
    let SketchState::Hyperloglog(h) = sketch::read(&maps, sketch::find(&schema, "sources").unwrap()).expect("read sources") else {
        panic!("a HyperLogLog")
    };
    let est = h.estimate();
    let err = (est - keys as f64).abs() / keys as f64;
    eprintln!("hyperloglog: {keys} distinct, estimate {est:.0}, error {:.3}%", err * 100.0);
    assert!(err <= 0.02, "HyperLogLog at p = 14 off by {:.2}%", err * 100.0);
}

const NITRO: &str = "import std.net
sketch flows: nitro(rows = 4, cols = 1024, p = 0.125) keyed (ipv4.src, udp.src_port)
control s(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    flows.add(ipv4.ttl as u32)
    pass
}
";

#[test]
fn nitrosketch_samples_the_same_rows_as_the_rust_twin() {
    if !nfl_runtime::require_kernel("nitrosketch_samples_the_same_rows_as_the_rust_twin") {
        return;
    }
    nfl_runtime::testrun::pin_thread_to_cpu(0).expect("pin to CPU 0");
    let (prog, schema) = build("nitro.nf", NITRO);
    let pool = nfl_compiler::schema::nitro_pool(3).expect("pool");
    let mut twin = kfunc_lib::Nitro::new(4, 1024, &pool).unwrap();
    let mut rng = XorShift64Star::new(11);
    for _ in 0..20_000 {
        let r = rng.next_u64();
        let (src, sport, ttl) = (NET + (r % 500) as u32, (r >> 20) as u16 % 64, (r >> 40) as u8);
        assert_eq!(nfl_runtime::test_run(prog.fd(), &frame(src, NET + 1, ttl, sport), 1).expect("test run").retval, 2);
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&src.to_le_bytes());
        key[4..6].copy_from_slice(&sport.to_le_bytes());
        twin.add(&key, u32::from(ttl));
    }
    let maps = MapSet::from_loaded(&prog, &schema).expect("maps");
    let s = sketch::find(&schema, "flows").unwrap();
    let counters = sketch::read(&maps, s).expect("read").to_bytes();
    assert!(counters == twin.sketch().to_bytes(), "NitroSketch counters differ from the twin's");
    let st = maps.get("flows_nitro").expect("sampler state");
    let per_cpu = nfl_runtime::mapops::lookup(st.fd(), st.shape, &0u32.to_ne_bytes()).unwrap().unwrap();
    let cpu0 = kfunc_lib::NitroState { skip: u32::from_le_bytes(per_cpu[0..4].try_into().unwrap()), cursor: u32::from_le_bytes(per_cpu[4..8].try_into().unwrap()) };
    assert_eq!(cpu0, twin.state(), "sampler state of CPU 0");
    let updated = counters.chunks(4).filter(|c| *c != [0u8; 4]).count();
    eprintln!("nitro: {updated} non-zero counters after 20,000 packets, state {cpu0:?}");
    assert!(updated > 1000, "the sampler updated rows");
}

const REKEYED: &str = "import std.net
meta { k: u32 }
sketch seen: count_min(rows = 3, cols = 256) keyed meta.k
control s(xdp) {
    if !ipv4.valid { pass }
    meta.k = ipv4.src
    seen.add()
    meta.k = ipv4.dst
    if seen.query() > 0 { tx }
    pass
}
";

/// A query after an add reuses the add's cells only while the key is the
/// same: here the key's field changes in between.
#[test]
fn a_query_after_the_key_changed_hashes_the_new_key() {
    if !nfl_runtime::require_kernel("a_query_after_the_key_changed_hashes_the_new_key") {
        return;
    }
    let (prog, _) = build("rekeyed.nf", REKEYED);
    let run = |src: u32, dst: u32| nfl_runtime::test_run(prog.fd(), &frame(src, dst, 64, 1), 1).expect("test run").retval;
    assert_eq!(run(NET + 1, NET + 2), 2, "198.18.0.2 was never a source: pass");
    assert_eq!(run(NET + 2, NET + 3), 2, "nor 198.18.0.3");
    assert_eq!(run(NET + 4, NET + 1), 3, "198.18.0.1 was a source: tx");
}

/// The enetstl profile calls kfunc-lib's module, which this kernel cannot
/// load: the load fails with E0908, naming the kfunc.
#[test]
fn an_enetstl_object_names_the_missing_module_kfunc() {
    if !nfl_runtime::require_kernel("an_enetstl_object_names_the_missing_module_kfunc") {
        return;
    }
    let build = nfl_compiler::driver::build_for("en.nf", ACCURACY, &mut nfl_compiler::frontend::NoModules, None, nfl_compiler::target::Target::Enetstl)
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    let Err(e) = nfl_runtime::load(&build.object, None) else { panic!("an object calling nfl_cm_add loaded without the module") };
    let text = format!("{e}");
    assert!(text.contains("nfl_cm_add") && text.contains("nfl_kfuncs module"), "{text}");
    use miette::Diagnostic;
    assert_eq!(e.code().map(|c| c.to_string()).as_deref(), Some("nfl::E0908"), "{text}");
}

const FANIN: &str = "import std.net
sketch fanin: hyperloglog(p = 8, size = 64) keyed ipv4.src per ipv4.dst
control s(xdp) {
    if !ipv4.valid { pass }
    fanin.add()
    pass
}
";

/// A HyperLogLog per destination: each destination's registers (merged
/// over CPUs) equal the twin's fed that destination's sources, and the
/// control plane ranks destinations by distinct sources.
#[test]
fn a_hyperloglog_per_destination_counts_each_destination_apart() {
    if !nfl_runtime::require_kernel("a_hyperloglog_per_destination_counts_each_destination_apart") {
        return;
    }
    let (prog, schema) = build("fanin.nf", FANIN);
    let dsts: Vec<u32> = (0..5).map(|d| NET + 0x100 + d).collect();
    let mut twins: Vec<Hll> = dsts.iter().map(|_| Hll::new(8).unwrap()).collect();
    let mut rng = XorShift64Star::new(5);
    for (d, &dst) in dsts.iter().enumerate() {
        let sources = 40 * (d as u32 + 1);
        for _ in 0..3 * sources {
            let src = NET + 0x1_0000 + (rng.next_u64() % u64::from(sources)) as u32;
            assert_eq!(nfl_runtime::test_run(prog.fd(), &frame(src, dst, 64, 1), 1).expect("test run").retval, 2);
            twins[d].add(&src.to_le_bytes());
        }
    }
    let maps = MapSet::from_loaded(&prog, &schema).expect("maps");
    let s = sketch::find(&schema, "fanin").unwrap();
    for (d, &dst) in dsts.iter().enumerate() {
        let hll = sketch::read_per(&maps, s, &dst.to_le_bytes()).expect("read").expect("a seen destination");
        assert!(hll.to_bytes() == twins[d].to_bytes(), "registers of destination {d}");
    }
    assert!(sketch::read_per(&maps, s, &(NET + 9).to_le_bytes()).expect("read").is_none(), "an unseen destination");
    let top = sketch::top(&maps, s, 3).expect("top");
    let ranked: Vec<u32> = top.iter().map(|(k, _)| u32::from_le_bytes(k[..4].try_into().unwrap())).collect();
    assert_eq!(ranked, [dsts[4], dsts[3], dsts[2]], "destinations by distinct sources: {top:?}");
}

const MEDIAN: &str = "import std.net
sketch cs: count_sketch(rows = 5, cols = 64) keyed ipv4.src
sketch even: nitro(rows = 4, cols = 64, p = 0.5) keyed ipv4.src
control s(xdp) {
    if !ipv4.valid || !udp.valid { pass }
    cs.add(udp.src_port as u32)
    even.add(udp.src_port as u32)
    ipv4.dst = cs.query()
    udp.checksum = 0
    ipv4.id = even.query() as u16
    tx
}
";

/// A count sketch's and a NitroSketch's per-packet `query` (the median of
/// signed counters, odd and even row counts, negatives read as 0) equal
/// the twin's estimate after each packet. Small sketches, so that rows
/// collide and estimates go negative.
#[test]
fn count_sketch_queries_give_the_twins_median() {
    if !nfl_runtime::require_kernel("count_sketch_queries_give_the_twins_median") {
        return;
    }
    nfl_runtime::testrun::pin_thread_to_cpu(0).expect("pin to CPU 0");
    let (prog, _) = build("median.nf", MEDIAN);
    let mut cs = CountSketch::new(5, 64).unwrap();
    let mut nitro = kfunc_lib::Nitro::new(4, 64, &nfl_compiler::schema::nitro_pool(1).unwrap()).unwrap();
    let mut rng = XorShift64Star::new(3);
    let (mut negative, mut positive) = (0, 0);
    for i in 0..3000 {
        let r = rng.next_u64();
        let (src, sport) = (NET + (r % 200) as u32, (r >> 20) as u16 % 1000);
        let out = nfl_runtime::test_run(prog.fd(), &frame(src, NET + 1, 64, sport), 1).expect("test run");
        assert_eq!(out.retval, 3);
        let k = src.to_le_bytes();
        cs.add(&k, i32::from(sport));
        nitro.add(&k, u32::from(sport));
        let want = cs.query(&k);
        (if want < 0 { &mut negative } else { &mut positive }).add_assign(1);
        let got = u32::from_be_bytes(out.data_out[30..34].try_into().unwrap());
        assert_eq!(i64::from(got), want.max(0), "packet {i}: count sketch");
        let got = u16::from_be_bytes(out.data_out[18..20].try_into().unwrap());
        assert_eq!(got, nitro.query(&k).max(0) as u16, "packet {i}: NitroSketch");
    }
    assert!(negative > 0 && positive > 0, "both signs were seen: {negative} negative, {positive} positive");
}
