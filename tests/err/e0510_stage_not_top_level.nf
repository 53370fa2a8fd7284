// expect: E0510 E0510
// A stage is a run of the control's own statements: not inside an action
// (which runs within whatever stage calls it) nor inside an `if`.
import std.net

action mark() {
    stage { pass }
}

control c(xdp) {
    if ipv4.valid {
        stage { drop }
    }
    mark()
}
