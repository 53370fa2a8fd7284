/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * parse_only.c: the hand-written C twin of examples/parse_only.nf.
 * Runs the standard parser (nf_std_parse.h) on every packet, then passes it.
 *
 * nflc keeps every bounds check of a parse even when the control reads none
 * of its results. Written naively in C, every path here ends in XDP_PASS and
 * clang would delete the whole parse as dead code, so the benchmark would
 * compare against an empty program. To keep the parse alive, its result --
 * the `rejected` flag, which every bounds check and every dispatch on an
 * ethertype / version / ihl / fragment offset / protocol feeds -- goes into
 * an empty `asm volatile` that takes it as a register input. This is the
 * same trick as Rust's `black_box`: the asm emits no instruction, but clang
 * must compute its input. Field values the parse does not branch on are not
 * kept, just as nflc drops them.
 */
#include "nf_std_parse.h"

SEC("xdp")
int parse_only(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_hdrs h;

	int rejected = nf_std_parse(data, data_end, &h);
#ifdef NF_EXPOSE
	/* Test builds only (tests/c_twins.rs, -DNF_EXPOSE=h.udp etc.): make one
	 * parse result the verdict, to compare it with an nflc program that
	 * drops on the same condition. */
	(void)rejected;
	return (NF_EXPOSE) ? XDP_DROP : XDP_PASS;
#else
	asm volatile("" ::"r"(rejected));
	return XDP_PASS;
#endif
}

char _license[] SEC("license") = "GPL";
