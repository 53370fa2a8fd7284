/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * countmin.c: the hand-written C twin of an nflc count-min sketch keyed on
 * the IPv4 source address (bench/sketch_bench.rs, tests/sketch_twin.rs):
 *
 *   import std.net
 *   sketch talkers: count_min(rows = CM_ROWS, cols = CM_COLS) keyed ipv4.src
 *   control cm(xdp) {
 *       if !ipv4.valid { pass }
 *       talkers.add()
 *       pass                          // or, with -DCM_THRESHOLD=T:
 *   }                                 // if talkers.query() > T { drop }
 *
 * The algorithm and the map are those of docs/kfunc-lib.md, so the counters
 * are byte for byte the ones nflc's program and the Rust twin
 * (kfunc_lib::count_min::CountMin) compute:
 * - the key is ipv4.src in host order as one little-endian u32 word (4
 *   bytes), hashed with murmur3_x86_32 (one block, no tail) per row with
 *   seed(i) = (i + 1) * 0x9E3779B9;
 * - the counters are u32, row-major, in ONE value (key 0) of an array map
 *   called `talkers`; index = h & (CM_COLS - 1); adds are atomic
 *   (__sync_fetch_and_add, `lock xadd`);
 * - the query is the minimum over the rows, read after the add.
 *
 * Written as one would by hand: the parse of nf_std_parse.h (the twin of
 * std_parse, so `ipv4.valid` means the same), the seed-independent half of
 * murmur3 (the key block mixed by c1, rotl 15, c2) computed once for all
 * rows, the rows unrolled, each row's hash computed once and shared by the
 * add and the query.
 */
#include "nf_std_parse.h"
#include "nf_murmur3.h"

#ifndef CM_ROWS
#define CM_ROWS 4
#endif
#ifndef CM_COLS
#define CM_COLS 4096
#endif

_Static_assert((CM_COLS & (CM_COLS - 1)) == 0, "cols is a power of two");

struct cm_counters {
	__u32 c[CM_ROWS][CM_COLS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cm_counters);
} talkers SEC(".maps");

/* murmur3_x86_32 of one 4-byte block whose mixed form is `k`, seed `seed`. */
static __always_inline __u32 murmur3_block(__u32 k, __u32 seed)
{
	return murmur3_final(murmur3_round(seed, k), 4);
}

SEC("xdp")
int countmin(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_hdrs h;

	nf_std_parse(data, data_end, &h);
	if (!h.ip4)
		return XDP_PASS;

	__u32 k = murmur3_mix(bpf_ntohl(h.ip4->saddr));

	__u32 zero = 0;
	struct cm_counters *cm = bpf_map_lookup_elem(&talkers, &zero);
	if (!cm)
		return XDP_PASS;

#ifdef CM_THRESHOLD
	__u32 idx[CM_ROWS];
#endif
#pragma unroll
	for (int i = 0; i < CM_ROWS; i++) {
		__u32 col = murmur3_block(k, (__u32)(i + 1) * 0x9E3779B9u) & (CM_COLS - 1);
		__sync_fetch_and_add(&cm->c[i][col], 1);
#ifdef CM_THRESHOLD
		idx[i] = col;
#endif
	}

#ifdef CM_THRESHOLD
	__u32 min = cm->c[0][idx[0]];
#pragma unroll
	for (int i = 1; i < CM_ROWS; i++) {
		__u32 v = cm->c[i][idx[i]];
		if (v < min)
			min = v;
	}
	if (min > CM_THRESHOLD)
		return XDP_DROP;
#endif
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
