// expect: E0202 E0202 E0202
// A header declared twice, a field declared twice, and a `let` that would
// hide a constant.
const LIMIT = 10

header tag { id: u8, id: u8 }
header tag { value: u16 }

control c(xdp) {
    let LIMIT = 5
    pass
}
