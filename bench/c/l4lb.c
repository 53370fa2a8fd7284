/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * l4lb.c: the hand-written C twin of examples/l4lb.nf for IPv4 traffic
 * (bench/l4lb_bench.rs, tests/l4lb_twin.rs), with l4lb.yaml's config
 * compiled in as nflc folds it: self_addr 198.18.0.1, next_hop
 * 02:00:00:00:00:fe, IP-in-IP (no GUE).
 *
 * IPv4 only: an IPv6 packet passes here (the .nf program looks it up in
 * `vips6`); the benchmark and the equality test send IPv4 only.
 *
 * Same maps as nflc's build, by name, kind and size, so the loader's
 * code fills both (nfl_runtime::state::MapSet::write_initial_for):
 * - vips_rules: hash, key {dst, protocol, pad, dport} (host order), value
 *   {prio, action, group u16}; vips_stats: hit/miss counts;
 * - backends: array, one value per group: 65,537 u32 slot words (member
 *   index + 1), then 64 u32 members (nfl_compiler::maglev::Layout);
 *   backends_members: hash of {group, member} (the membership `has`);
 * - conns: LRU hash, key {src, dst, sport, dport, proto} (host order,
 *   zero padding to 16 bytes), value {backend u64, last seen ns u64},
 *   idle after 300 s;
 * - stats: per-CPU {packets, bytes}: 0 new, 1 tracked, 2 re-picked, 3 no
 *   backend.
 *
 * The Maglev pick hashes the conns key's 16 bytes with murmur3_x86_32,
 * seed nfl_compiler::maglev::PICK_SEED, then `% slots`.
 *
 * -DL4LB_SHRINK_BACK: after building the packet, move the link layer back
 * and give the 20 bytes back (bpf_xdp_adjust_head(ctx, 20)) before XDP_TX,
 * so that BPF_PROG_TEST_RUN's repeat reruns on the original frame (the
 * benchmark's "encap + decap" variant; nflc's twin of it ends with
 * `outer_ipv4.set_invalid()`).
 */
#include "nf_std_parse.h"
#include "nf_murmur3.h"
#include "nf_table_stats.h"

#define LB_SELF 0xc6120001u /* 198.18.0.1 */
#define LB_SLOTS 65537u
#define LB_MEMBERS 64u
#define LB_GROUPS 16u
#define LB_PICK_SEED 0x6d61676cu
#define LB_IDLE_NS 300000000000ull
#define LB_OUTER 20

static const __u8 next_hop[6] = {2, 0, 0, 0, 0, 0xfe};

struct vip_key {
	__u32 dst;
	__u8 proto;
	__u8 pad;
	__u16 dport;
};

struct vip_value {
	__u32 prio;
	__u32 action;
	__u16 group;
	__u8 pad[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct vip_key);
	__type(value, struct vip_value);
} vips_rules SEC(".maps");

NF_TABLE_STATS(vips_stats)

struct group {
	__u32 slot[LB_SLOTS];
	__u32 pad;
	__u32 member[LB_MEMBERS];
};

_Static_assert(sizeof(struct group) == 262408, "the nflc pool layout");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LB_GROUPS);
	__type(key, __u32);
	__type(value, struct group);
} backends SEC(".maps");

struct member_key {
	__u32 group;
	__u32 member;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LB_GROUPS * LB_MEMBERS);
	__type(key, struct member_key);
	__type(value, __u8);
} backends_members SEC(".maps");

struct flow {
	__u32 src;
	__u32 dst;
	__u16 sport;
	__u16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct conn {
	__u64 backend;
	__u64 last;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 262144);
	__type(key, struct flow);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, struct nf_counts);
} stats SEC(".maps");

enum { NEW = 0, TRACKED = 1, REPICKED = 2, NO_BACKEND = 3 };

static __always_inline void count(__u32 which, __u64 len)
{
	struct nf_counts *c = bpf_map_lookup_elem(&stats, &which);
	if (c) {
		c->packets += 1;
		c->bytes += len;
	}
}

/* murmur3_x86_32 of the flow key's four words (16 bytes). */
static __always_inline __u32 flow_hash(const struct flow *f)
{
	__u32 h = LB_PICK_SEED;
	h = murmur3_round(h, murmur3_mix(f->src));
	h = murmur3_round(h, murmur3_mix(f->dst));
	h = murmur3_round(h, murmur3_mix(f->sport | (__u32)f->dport << 16));
	h = murmur3_round(h, murmur3_mix(f->proto));
	return murmur3_final(h, 16);
}

/* The tracked backend of `f`, 0 when there is none or it idled out. */
static __always_inline __u32 tracked(const struct flow *f)
{
	struct conn *c = bpf_map_lookup_elem(&conns, f);
	if (!c)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	if (now - c->last > LB_IDLE_NS)
		return 0;
	c->last = now;
	return (__u32)c->backend;
}

/* Maglev: the member the flow's slot names into *b; 0 when there is none. */
static __always_inline int pick(__u32 g, const struct flow *f, __u32 *b)
{
	__u32 slot = flow_hash(f) % LB_SLOTS;
	struct group *grp = bpf_map_lookup_elem(&backends, &g);
	if (!grp)
		return 0;
	/* The verifier does not bound `%`: say so where it can see it. */
	asm volatile("" : "+r"(slot));
	if (slot >= LB_SLOTS)
		return 0;
	__u32 idx = grp->slot[slot] - 1; /* 0, an empty group, wraps */
	if (idx >= LB_MEMBERS)
		return 0;
	*b = grp->member[idx];
	return 1;
}

/* The outer IPv4 header's checksum: everything but the length and the
 * backend is constant. */
static __always_inline __u16 outer_csum(__u16 total, __u32 backend)
{
	__u32 s = 0x4500 + total + 0x4000 + 4 /* ttl 64, proto 4 */ + (LB_SELF >> 16) +
		  (LB_SELF & 0xffff) + (backend >> 16) + (backend & 0xffff);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return ~s;
}

/* Write the link layer (`tags` VLAN tags) and the outer header at `data`;
 * the old link layer starts LB_OUTER bytes in. 0 when out of bounds. */
static __always_inline int write_front(void *data, void *data_end, int tags, __u16 total,
				       __u32 backend)
{
	int l2 = sizeof(struct nf_eth) + tags * sizeof(struct nf_vlan);
	if (data + LB_OUTER + l2 > data_end)
		return 0;
	struct nf_eth *old = data + LB_OUTER;
	struct nf_eth *eth = data;
	__be16 proto = old->proto;
	__builtin_memcpy(eth->src, old->dst, 6); /* dst < src: in order is safe */
	__builtin_memcpy(eth->dst, next_hop, 6);
	if (tags == 0) {
		eth->proto = bpf_htons(ETH_P_IP);
	} else {
		eth->proto = proto;
		struct nf_vlan *v = (void *)(eth + 1);
		struct nf_vlan *ov = (void *)(old + 1);
		v[0] = ov[0];
		if (tags == 2)
			v[1] = ov[1];
		v[tags - 1].ethertype = bpf_htons(ETH_P_IP);
	}
	struct iphdr *ip = data + l2;
	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0;
	ip->tot_len = bpf_htons(total);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = 4;
	ip->check = bpf_htons(outer_csum(total, backend));
	ip->saddr = bpf_htonl(LB_SELF);
	ip->daddr = bpf_htonl(backend);
	return 1;
}

#ifdef L4LB_SHRINK_BACK
/* Undo the insert: the link layer (`l2` bytes) back over the outer header,
 * in straight copies of constant size, and the bytes given back. */
static __always_inline int shrink_back(struct xdp_md *ctx, int tags)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (data + LB_OUTER + 22 > data_end)
		return XDP_DROP;
	if (tags == 0) {
		__builtin_memcpy(data + LB_OUTER, data, 14);
	} else if (tags == 1) {
		__builtin_memcpy(data + LB_OUTER, data, 18);
	} else {
		/* 22 bytes overlap by 2: the last 2 first. */
		__builtin_memcpy(data + LB_OUTER + 20, data + 20, 2);
		__builtin_memcpy(data + LB_OUTER, data, 20);
	}
	if (bpf_xdp_adjust_head(ctx, LB_OUTER))
		return XDP_DROP;
	return XDP_TX;
}
#endif

SEC("xdp")
int l4lb(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct nf_hdrs h;

	nf_std_parse(data, data_end, &h);
	if (!h.eth)
		return XDP_PASS;
	struct flow f = {};
	if (h.tcp) {
		f.sport = bpf_ntohs(h.tcp->source);
		f.dport = bpf_ntohs(h.tcp->dest);
	} else if (h.udp) {
		f.sport = bpf_ntohs(h.udp->source);
		f.dport = bpf_ntohs(h.udp->dest);
	} else {
		return XDP_PASS;
	}
	if (!h.ip4)
		return XDP_PASS;
	f.src = bpf_ntohl(h.ip4->saddr);
	f.dst = bpf_ntohl(h.ip4->daddr);
	f.proto = h.ip4->protocol;

	struct vip_key vk = {.dst = f.dst, .proto = f.proto, .dport = f.dport};
	struct vip_value *vip = bpf_map_lookup_elem(&vips_rules, &vk);
	vips_stats_count(vip ? 0 : 1, len);
	if (!vip || vip->action != 0)
		return XDP_PASS;
	__u16 group = vip->group + 1;
	if (group == 0)
		return XDP_PASS;
	__u32 g = group - 1;

	__u32 backend = tracked(&f);
	struct member_key mk = {.group = g, .member = backend};
	if (backend == 0 || !bpf_map_lookup_elem(&backends_members, &mk)) {
		__u32 b;
		if (!pick(g, &f, &b)) {
			count(NO_BACKEND, len);
			return XDP_DROP;
		}
		count(backend ? REPICKED : NEW, len);
		backend = b;
		struct conn c = {.backend = b, .last = bpf_ktime_get_ns()};
		bpf_map_update_elem(&conns, &f, &c, BPF_ANY);
	} else {
		count(TRACKED, len);
	}
	__u16 total = bpf_ntohs(h.ip4->tot_len) + LB_OUTER;
	int tags = h.vlan[1] ? 2 : h.vlan[0] ? 1 : 0;

	if (bpf_xdp_adjust_head(ctx, -LB_OUTER))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	int ok = tags == 0   ? write_front(data, data_end, 0, total, backend)
		 : tags == 1 ? write_front(data, data_end, 1, total, backend)
			     : write_front(data, data_end, 2, total, backend);
	if (!ok)
		return XDP_DROP;
#ifdef L4LB_SHRINK_BACK
	return shrink_back(ctx, tags);
#else
	return XDP_TX;
#endif
}

char _license[] SEC("license") = "GPL";
