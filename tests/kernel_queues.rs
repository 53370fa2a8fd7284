//! Queues in the kernel, under both profiles this kernel has.
//!
//! `examples/scheduler.nf` is built for `helpers` (a binary heap in an
//! array value) and for `stock` (the kernel's rbtree of `bpf_obj_new`'d
//! nodes); both must pass the verifier, and the same packet sequence,
//! driven through BPF_PROG_TEST_RUN, must give the same queue order in
//! both and in the Rust twin (`kfunc_lib::pqueue::PQueue`). The FIFO and the
//! timing wheel are checked against models the same way.

use kfunc_lib::XorShift64Star;
use kfunc_lib::pqueue::PQueue;
use nfl_compiler::Target;
use nfl_compiler::frontend::NoModules;
use nfl_runtime::{LoadedProgram, load, require_kernel};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_TX: u32 = 3;

fn scheduler(target: Target) -> LoadedProgram {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/scheduler.nf"
    ))
    .expect("read example");
    let build =
        nfl_compiler::driver::build_for("scheduler.nf", &text, &mut NoModules, None, target)
            .unwrap_or_else(|f| panic!("build for {target}: {:?}", f.diagnostics));
    let prog = load(&build.object, Some("scheduler")).unwrap_or_else(|e| {
        let log = e
            .verifier_log()
            .map(nfl_runtime::trim_verifier_log)
            .unwrap_or_default();
        panic!("load for {target}: {e}\n{log}")
    });
    eprintln!(
        "scheduler [{target}]: verifier processed {:?} insns, {} xlated",
        prog.verified_insns(),
        prog.xlated_insn_count()
    );
    prog
}

/// Ethernet + IPv4 + UDP, addresses and ports as given.
fn frame(src: u32, dst: u32, sport: u16, dport: u16) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8 + 8];
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&36u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&dst.to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&sport.to_be_bytes());
    udp[2..4].copy_from_slice(&dport.to_be_bytes());
    udp[4..6].copy_from_slice(&16u16.to_be_bytes());
    f
}

/// Sends a command; `Some(ipv4.dst)` of the frame sent back (XDP_TX).
fn cmd(p: &LoadedProgram, src: u32, dst: u32, sport: u16, dport: u16) -> (u32, Option<u32>) {
    let res = p
        .test_run(&frame(src, dst, sport, dport), 1)
        .expect("test run");
    let out = (res.retval == XDP_TX)
        .then(|| u32::from_be_bytes(res.data_out[30..34].try_into().unwrap()));
    (res.retval, out)
}


/// 10,000 random ranks (many ties) pushed, then popped: sorted by rank,
/// push order among ties, in both profiles and the twin; then a random
/// interleaving of pushes and pops.
#[test]
fn pqueue_profiles_agree_with_the_twin() {
    if !require_kernel("pqueue_profiles_agree_with_the_twin") {
        return;
    }
    let progs = [scheduler(Target::Helpers), scheduler(Target::Stock)];
    let mut twin = PQueue::new();
    let mut rng = XorShift64Star::new(0x6e66_6c5f_7175_6575);
    for p in &progs {
        assert_eq!(cmd(p, 0, 0, 0, 7002).0, XDP_DROP, "empty queue");
    }
    const N: u32 = 10_000;
    for i in 0..N {
        let rank = (rng.next_u64() % 3000) as u32;
        for p in &progs {
            assert_eq!(cmd(p, rank, i, 0, 7001).0, XDP_PASS, "push #{i}");
        }
        twin.push(u64::from(rank), u64::from(i));
    }
    let mut last = (0u64, 0u64);
    for i in 0..N {
        let (rank, value) = twin.pop_min().expect("twin holds it");
        assert!((rank, value) >= last, "twin order");
        last = (rank, value);
        for (p, t) in progs.iter().zip(["helpers", "stock"]) {
            assert_eq!(
                cmd(p, 0, 0, 0, 7002),
                (XDP_TX, Some(value as u32)),
                "{t}: pop #{i}"
            );
        }
    }
    for p in &progs {
        assert_eq!(cmd(p, 0, 0, 0, 7002).0, XDP_DROP, "drained");
    }
    // Interleaved, with a full queue refusing pushes in both.
    for i in 0..20_000u32 {
        if rng.next_u64().is_multiple_of(3) {
            let want = twin.pop_min().map(|(_, v)| v as u32);
            for p in &progs {
                let (verdict, got) = cmd(p, 0, 0, 0, 7002);
                assert_eq!(got, want, "interleaved pop #{i} ({verdict})");
            }
        } else {
            let rank = (rng.next_u64() % 50) as u32;
            let fits = twin.len() < 16384;
            if fits {
                twin.push(u64::from(rank), u64::from(i));
            }
            for p in &progs {
                let want = if fits { XDP_PASS } else { XDP_DROP };
                assert_eq!(cmd(p, rank, i, 0, 7001).0, want, "interleaved push #{i}");
            }
        }
    }
}

/// The FIFO keeps push order, refuses a push when full (1024), and both
/// profiles agree with a `VecDeque`.
#[test]
fn fifo_keeps_push_order() {
    if !require_kernel("fifo_keeps_push_order") {
        return;
    }
    for target in [Target::Helpers, Target::Stock] {
        let p = scheduler(target);
        let mut model = std::collections::VecDeque::new();
        let mut rng = XorShift64Star::new(7);
        for i in 0..5000u32 {
            if rng.next_u64().is_multiple_of(2) {
                let want = model.pop_front();
                let (_, got) = cmd(&p, 0, 0, 0, 7006);
                assert_eq!(got, want, "{target}: dequeue #{i}");
            } else {
                let v = rng.next_u64() as u32;
                if model.len() < 1024 {
                    model.push_back(v);
                }
                cmd(&p, 0, v, 0, 7005);
            }
        }
    }
}

/// A model of the wheel's rules (see `nfl-compiler/src/build/wheel.rs`):
/// slots of bounded FIFO lists, a clock in ticks.
struct WheelModel {
    slots: u64,
    cap: usize,
    base: u64,
    lists: kfunc_lib::buckets::Buckets<u32>,
    count: usize,
}

impl WheelModel {
    fn new(slots: u64, cap: usize) -> Self {
        let lists = kfunc_lib::buckets::Buckets::new(slots as usize, cap).unwrap();
        WheelModel {
            slots,
            cap,
            base: 0,
            lists,
            count: 0,
        }
    }

    fn push(&mut self, t: u64, v: u32) -> bool {
        if self.count == 0 {
            self.base = t;
        }
        let t = t.max(self.base);
        if t - self.base >= self.slots || self.lists.len((t % self.slots) as usize) == self.cap {
            return false;
        }
        self.lists.push((t % self.slots) as usize, v).unwrap();
        self.count += 1;
        true
    }

    fn pop_due(&mut self, now: u64) -> Option<u32> {
        if self.count == 0 {
            return None;
        }
        let d = (0..self.slots)
            .find(|d| !self.lists.is_empty(((self.base + d) % self.slots) as usize))?;
        let due = self.base + d;
        if due > now {
            self.base = self.base.max(now);
            return None;
        }
        self.base = due;
        self.count -= 1;
        self.lists.pop((due % self.slots) as usize)
    }
}

/// Pacing through the wheel (64 slots of 1 ms, 64 per slot): departures
/// kept in `next_tx`, released when due, in both profiles as in the model.
#[test]
fn wheel_releases_flows_when_due() {
    if !require_kernel("wheel_releases_flows_when_due") {
        return;
    }
    const GAP: u64 = 2;
    for target in [Target::Helpers, Target::Stock] {
        let p = scheduler(target);
        let mut model = WheelModel::new(64, 64);
        let mut next_tx = std::collections::HashMap::<u32, u64>::new();
        let mut rng = XorShift64Star::new(11);
        let mut now = 1000u64; // ms
        let mut released = 0;
        for i in 0..20_000u32 {
            if rng.next_u64().is_multiple_of(4) {
                now += rng.next_u64() % 3;
            }
            if now > 60_000 {
                break;
            }
            if rng.next_u64().is_multiple_of(2) {
                let flow = (rng.next_u64() % 40) as u32 + 1;
                let dep = now.max(next_tx.get(&flow).copied().unwrap_or(0));
                let pushed = model.push(dep, flow);
                if pushed {
                    next_tx.insert(flow, dep + GAP);
                }
                let want = if pushed { XDP_PASS } else { XDP_DROP };
                assert_eq!(
                    cmd(&p, flow, 0, now as u16, 7003).0,
                    want,
                    "{target}: pace #{i} at {now}"
                );
            } else {
                let want = model.pop_due(now);
                released += usize::from(want.is_some());
                assert_eq!(
                    cmd(&p, 0, 0, now as u16, 7004).1,
                    want,
                    "{target}: release #{i} at {now}"
                );
            }
        }
        assert!(released > 1000, "{target}: only {released} released");
    }
}
