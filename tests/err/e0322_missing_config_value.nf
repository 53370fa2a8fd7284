// expect: E0322
// A parameter without a default, and no config file.
import std.net

config { uplink: u32 }

control c(xdp) { redirect(config.uplink) }
