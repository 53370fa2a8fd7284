// nflc build fails with E0942 (tests/stages_cli.rs).
// Every stage re-runs the parser on the packet, so a split program must not
// write a field the parser branches on: the next stage would parse the
// rewritten packet another way.
import std.net

control c(xdp) {
    if !ethernet.valid { pass }
    if ethernet.ethertype == 0x9000 { ethernet.ethertype = 0x0800 }
    stage {
        if ipv4.valid && ipv4.ttl == 0 { drop }
    }
    pass
}
