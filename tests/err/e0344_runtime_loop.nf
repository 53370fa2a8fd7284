// expect: E0344 E0344
// A loop kept at run time runs at most 2^23 times, and its variable may
// not hide another name.
import std.net

meta { x: u32 }

control c(xdp) {
    if !ipv4.valid { pass }
    for i in 0..10000000 { meta.x += 1 }
    let j = 1
    for j in 0..1000 { meta.x += j }
    pass
}
