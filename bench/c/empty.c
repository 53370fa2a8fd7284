/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The floor: an XDP program that only passes (r0 = 2; exit). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
