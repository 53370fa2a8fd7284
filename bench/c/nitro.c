/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * nitro.c: the hand-written C twin of an nflc NitroSketch keyed on the IPv4
 * source address and the UDP source port (bench/sketch_bench.rs,
 * tests/sketch_twin.rs):
 *
 *   import std.net
 *   sketch flows: nitro(rows = NS_ROWS, cols = NS_COLS, p = 2^-NS_LOG2P)
 *       keyed (ipv4.src, udp.src_port)
 *   control nm(xdp) {
 *       if !ipv4.valid || !udp.valid { pass }
 *       flows.add()
 *       pass
 *   }
 *
 * The algorithm and the maps are those of docs/kfunc-lib.md ("NitroSketch")
 * and of nflc's lowering, so the state is byte for byte the one nflc's
 * program and the Rust twin (kfunc_lib::Nitro) leave:
 * - the key is 8 bytes: ipv4.src in host order as a little-endian u32,
 *   udp.src_port in host order as a little-endian u16, two zero bytes; so
 *   two murmur3_x86_32 blocks (the saddr word, the port word), length 8,
 *   per row with seed(i) = (i + 1) * 0x9E3779B9;
 * - `flows`: ONE value (key 0) of an array map, NS_ROWS * NS_COLS i32
 *   counters, row-major; a sampled row adds +-(1 << NS_LOG2P) to cell
 *   h & (NS_COLS - 1), negative when bit 31 of h is set, atomically;
 * - `flows_nitro`: a per-CPU array, one value {u32 skip; u32 cursor}, zero
 *   at start; per row: if skip == 0 the row is updated and
 *   skip = pool[cursor] - 1, cursor = (cursor + 1) mod NS_POOL_LEN, else
 *   skip -= 1; a packet with skip >= NS_ROWS only does skip -= NS_ROWS;
 * - `flows_pool`: an array, one value of NS_POOL_LEN u32 geometric gaps,
 *   written by userspace before the first packet (the same bytes as nflc's
 *   pool: nfl_compiler::schema::nitro_pool).
 *
 * Written as one would by hand: the parse of nf_std_parse.h; the sampler
 * state read first, so that a packet on the fast path (no row sampled)
 * touches nothing else; only then the counters, the pool and the key's
 * seed-independent half of murmur3 (each block mixed by c1, rotl 15, c2)
 * once for all rows; the rows unrolled, skip and cursor kept in registers
 * and stored once.
 */
#include "nf_std_parse.h"
#include "nf_murmur3.h"

#ifndef NS_ROWS
#define NS_ROWS 4
#endif
#ifndef NS_COLS
#define NS_COLS 4096
#endif
#ifndef NS_LOG2P
#define NS_LOG2P 3
#endif
#define NS_POOL_LEN 1024 /* nfl_compiler::build::sketch::NITRO_POOL_LEN */

_Static_assert((NS_COLS & (NS_COLS - 1)) == 0, "cols is a power of two");
_Static_assert((NS_POOL_LEN & (NS_POOL_LEN - 1)) == 0, "the pool wraps by mask");

struct ns_counters {
	__s32 c[NS_ROWS][NS_COLS];
};

struct ns_state {
	__u32 skip;
	__u32 cursor;
};

struct ns_pool {
	__u32 gap[NS_POOL_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ns_counters);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ns_state);
} flows_nitro SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ns_pool);
} flows_pool SEC(".maps");

/* murmur3_x86_32 of the two blocks mixed into k0 and k1, seed `seed`. */
static __always_inline __u32 murmur3_2(__u32 k0, __u32 k1, __u32 seed)
{
	return murmur3_final(murmur3_round(murmur3_round(seed, k0), k1), 8);
}

SEC("xdp")
int nitro(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_hdrs h;

	nf_std_parse(data, data_end, &h);
	if (!h.ip4 || !h.udp)
		return XDP_PASS;

	__u32 zero = 0;
	struct ns_state *st = bpf_map_lookup_elem(&flows_nitro, &zero);
	if (!st)
		return XDP_PASS;
	__u32 skip = st->skip;
	if (skip >= NS_ROWS) {
		st->skip = skip - NS_ROWS;
		return XDP_PASS;
	}

	struct ns_counters *cs = bpf_map_lookup_elem(&flows, &zero);
	if (!cs)
		return XDP_PASS;
	struct ns_pool *pool = bpf_map_lookup_elem(&flows_pool, &zero);
	if (!pool)
		return XDP_PASS;

	__u32 k0 = murmur3_mix(bpf_ntohl(h.ip4->saddr));
	__u32 k1 = murmur3_mix(bpf_ntohs(h.udp->source));
	const __s32 inc = 1 << NS_LOG2P;
	__u32 cursor = st->cursor;

#pragma unroll
	for (int i = 0; i < NS_ROWS; i++) {
		if (skip == 0) {
			__u32 x = murmur3_2(k0, k1, (__u32)(i + 1) * 0x9E3779B9u);
			__s32 d = (__s32)x < 0 ? -inc : inc;
			__sync_fetch_and_add(&cs->c[i][x & (NS_COLS - 1)], d);
			skip = pool->gap[cursor & (NS_POOL_LEN - 1)] - 1;
			cursor = (cursor + 1) & (NS_POOL_LEN - 1);
		} else {
			skip--;
		}
	}
	st->skip = skip;
	st->cursor = cursor;
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
