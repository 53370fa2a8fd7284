// expect: E0210
// Headers and a parser, but no control block to run.
import std.net

const PORT: u16 = 53
