// expect: E0302
// 4 + 4 + 6 = 14 bits: two bits short of a whole number of bytes.
header ip_start {
    version: u4
    ihl: u4
    dscp: u6
}

control c(xdp) { pass }
