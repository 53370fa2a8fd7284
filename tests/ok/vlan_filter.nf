// Only let VLANs 100..=199 through; the inner tag of a QinQ frame must be
// in the same range. Untagged frames pass.
import std.net

const FIRST_VID: u12 = 100
const LAST_VID: u12 = 199

control vlans(xdp) {
    if !vlan[0].valid { pass }
    if vlan[0].vid < FIRST_VID || vlan[0].vid > LAST_VID { drop }
    if vlan[1].valid {
        if !(vlan[1].vid in FIRST_VID..=LAST_VID) { drop }
        // Priority 7 is reserved for network control on the inner tag.
        if vlan[1].pcp == 7 { vlan[1].pcp = 6 }
    }
    pass
}
