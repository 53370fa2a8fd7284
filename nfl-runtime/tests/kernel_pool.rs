//! A pool hands every value out once, even when several CPUs take at the
//! same time: threads pinned to different CPUs run the program through
//! BPF_PROG_TEST_RUN concurrently, each packet comes back carrying the port
//! it was given, and no port may appear twice.


use std::collections::HashSet;

const SOURCE: &str = "import std.net
pool ports: ports(first = 20000, last = 23999)
control take_port(xdp) {
    if !udp.valid { pass }
    let p = ports.take() else { drop }
    udp.src_port = p
    tx
}
";

const POOL: usize = 4000;

fn udp_frame() -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12] = 0x08; // IPv4
    f[14] = 0x45;
    f[16] = 0; // total length 46
    f[17] = 46;
    f[22] = 64; // ttl
    f[23] = 17; // udp
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 18, 0, 2]);
    f[34..36].copy_from_slice(&1000u16.to_be_bytes());
    f[36..38].copy_from_slice(&53u16.to_be_bytes());
    f[38..40].copy_from_slice(&26u16.to_be_bytes());
    f
}


#[test]
fn no_port_is_handed_out_twice_across_cpus() {
    if !nfl_runtime::require_kernel("no_port_is_handed_out_twice_across_cpus") {
        return;
    }
    let build = nfl_compiler::driver::build("take_port.nf", SOURCE, &mut nfl_compiler::frontend::NoModules)
        .unwrap_or_else(|f| panic!("{}", nfl_syntax::diag::render_all(&f.diagnostics, &f.sources, false)));
    let prog = nfl_runtime::load(&build.object, Some("take_port")).expect("load");
    nfl_runtime::state::init_maps(&prog, &build.object).expect("fill the pool");
    let cpus = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 8);
    let fd = prog.fd();
    let frame = udp_frame();
    // Every thread asks for more than its share, so the pool runs dry.
    let per_thread = POOL / cpus + 200;
    let results: Vec<(Vec<u16>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..cpus)
            .map(|cpu| {
                let frame = frame.clone();
                s.spawn(move || {
                    nfl_runtime::testrun::pin_thread_to_cpu(cpu).expect("pin to a CPU");
                    let (mut got, mut dropped) = (Vec::new(), 0);
                    for _ in 0..per_thread {
                        let r = nfl_runtime::test_run(fd, &frame, 1).expect("test run");
                        match r.retval {
                            3 => got.push(u16::from_be_bytes([r.data_out[34], r.data_out[35]])),
                            1 => dropped += 1,
                            other => panic!("unexpected verdict {other}"),
                        }
                    }
                    (got, dropped)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("thread")).collect()
    });
    let mut seen = HashSet::new();
    let mut total_dropped = 0;
    for (got, dropped) in &results {
        total_dropped += dropped;
        for p in got {
            assert!((20000..=23999).contains(p), "port {p} outside the pool");
            assert!(seen.insert(*p), "port {p} handed out twice");
        }
    }
    assert_eq!(seen.len(), POOL, "every port handed out exactly once");
    assert_eq!(total_dropped, cpus * per_thread - POOL, "the rest found the pool empty");
    assert!(results.iter().all(|(got, _)| !got.is_empty()), "every CPU took some ports: {:?}", results.iter().map(|r| r.0.len()).collect::<Vec<_>>());
}
