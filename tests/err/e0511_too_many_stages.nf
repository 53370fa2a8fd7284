// expect: E0511
// Stages are chained by tail calls, which the kernel caps at 33; a
// program has at most 33 stages (here 34 `stage` blocks, one too many).
meta { n: u32 }

control c(xdp) {
    stage { meta.n += 1 }
    stage { meta.n += 2 }
    stage { meta.n += 3 }
    stage { meta.n += 4 }
    stage { meta.n += 5 }
    stage { meta.n += 6 }
    stage { meta.n += 7 }
    stage { meta.n += 8 }
    stage { meta.n += 9 }
    stage { meta.n += 10 }
    stage { meta.n += 11 }
    stage { meta.n += 12 }
    stage { meta.n += 13 }
    stage { meta.n += 14 }
    stage { meta.n += 15 }
    stage { meta.n += 16 }
    stage { meta.n += 17 }
    stage { meta.n += 18 }
    stage { meta.n += 19 }
    stage { meta.n += 20 }
    stage { meta.n += 21 }
    stage { meta.n += 22 }
    stage { meta.n += 23 }
    stage { meta.n += 24 }
    stage { meta.n += 25 }
    stage { meta.n += 26 }
    stage { meta.n += 27 }
    stage { meta.n += 28 }
    stage { meta.n += 29 }
    stage { meta.n += 30 }
    stage { meta.n += 31 }
    stage { meta.n += 32 }
    stage { meta.n += 33 }
    stage { meta.n += 34 }
    pass
}
