// Actions calling actions, with parameters of several types.
import std.net

meta {
    drops: u16
    marked: bool
}

action note_drop(reason: u16) {
    meta.drops += reason
}

action mark(set: bool, why: u16) {
    meta.marked = set
    if set { note_drop(why) }
}

action police(limit: u16, bytes: u32) {
    if bytes > limit as u32 { mark(true, 1) } else { mark(false, 0) }
}

control policer(tc) {
    police(1500, pkt.len)
    if meta.marked { drop }
    pass
}
