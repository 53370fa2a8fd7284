/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * firewall.c: the hand-written C twin of bench/nf/firewall.nf (specialized)
 * and bench/nf/firewall_dyn.nf (not specialized).
 *
 * The NF: run the standard parser (nf_std_parse.h); drop if it rejected;
 * pass anything but IPv4; drop non-first IPv4 fragments when the
 * drop_fragments flag is set; then classify the 5-tuple (source and
 * destination address ternary, protocol ternary, source and destination
 * port ranges; ports are 0 without TCP/UDP) against an ACL whose first
 * matching rule wins: allow passes, deny drops; no match passes. Like the
 * nflc programs, it counts hits and misses in `acl_stats`
 * (nf_table_stats.h).
 *
 * The classifier is what a careful C author writes for a rule list given
 * in priority order: a LINEAR SCAN, first match wins. Three builds:
 *
 *   -DFW_STATIC   the rules and the flag are compiled in (fw_rules.h,
 *                 generated from the same YAML as the .nf program by
 *                 bench/tables.rs): the scan is unrolled over a constant
 *                 array and clang folds every mask and bound into compares.
 *                 The twin of the specialized firewall.nf.
 *   (default)     the rules live in an array map `fw_rules` (at most
 *                 FW_MAX_RULES, default 64) and the rule count and the flag
 *                 in an array map `fw_conf`; a bounded loop scans them.
 *                 The twin of firewall_dyn.nf.
 *   -DFW_BPF_LOOP the same maps, scanned with bpf_loop() so that the
 *                 verifier checks the loop body once: the baseline for
 *                 10,000 rules (-DFW_MAX_RULES=16384).
 *   -DFW_TSS      the tuple-space classifier nflc builds, written in C: the
 *                 maps `acl_rules` and `acl_masks` have nflc's layouts
 *                 (docs/classifier.md, "Images") and hold the entries the
 *                 nflc build computed, and bpf_loop() walks the mask slots
 *                 (at most -DTSS_MAX_MASKS) in priority order, stopping as
 *                 soon as no later slot can beat the best hit. The flag
 *                 comes from `fw_conf` as in the default build.
 *   -DTSS_TAG     (with FW_TSS) the twin of firewall_tagged.nf: each
 *                 entry's value carries a 16-bit tag after prio and action,
 *                 written into the IPv4 identification field (0 on a miss).
 *
 * Addresses are compared in network byte order (rules are stored that
 * way), ports in host order.
 */
#include "nf_std_parse.h"
#include "nf_table_stats.h"

#ifndef FW_MAX_RULES
#define FW_MAX_RULES 64
#endif

#define FW_ALLOW 0
#define FW_DENY 1

struct fw_rule {
	__be32 src, src_mask; /* src is stored already masked */
	__be32 dst, dst_mask;
	__u16 sport_lo, sport_hi;
	__u16 dport_lo, dport_hi;
	__u8 proto, proto_mask;
	__u8 action; /* FW_ALLOW or FW_DENY */
	__u8 _pad;
};

struct fw_conf {
	__u32 n_rules;
	__u32 drop_fragments;
};

NF_TABLE_STATS(acl_stats)

/* The packet's 5-tuple, as the rules compare it. */
struct fw_key {
	__be32 src, dst;
	__u16 sport, dport;
	__u8 proto;
};

#ifndef FW_TSS
static __always_inline int fw_match(const struct fw_rule *r, const struct fw_key *k)
{
	return (k->src & r->src_mask) == r->src && (k->dst & r->dst_mask) == r->dst &&
	       (k->proto & r->proto_mask) == r->proto && k->sport >= r->sport_lo &&
	       k->sport <= r->sport_hi && k->dport >= r->dport_lo && k->dport <= r->dport_hi;
}
#endif

#ifdef FW_STATIC
/* Generated: FW_DROP_FRAGMENTS and FW_RULES (initialisers, first = highest). */
#include "fw_rules.h"
static const struct fw_rule fw_rules[] = {FW_RULES};
#define FW_N_RULES (sizeof(fw_rules) / sizeof(fw_rules[0]))
#else
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FW_MAX_RULES);
	__type(key, __u32);
	__type(value, struct fw_rule);
} fw_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fw_conf);
} fw_conf SEC(".maps");
#endif

#ifdef FW_TSS
#define TSS_FIELDS 5
#ifndef TSS_MAX_MASKS
#define TSS_MAX_MASKS 64
#endif

struct tss_key {
	__u32 tuple_id;
	__u32 _pad;
	__u64 f[TSS_FIELDS]; /* each field zero-extended, masked */
};

struct tss_value {
	__u32 prio; /* higher wins */
	__u32 action;
#ifdef TSS_TAG
	__u16 tag; /* the parameter of allow(tag) / deny(tag) */
	__u16 _pad[3];
#endif
};

struct tss_slot {
	__u32 max_prio;
	__u32 tuple_id;
	__u64 mask[TSS_FIELDS];
};

struct tss_masks {
	__u32 count;
	__u32 _pad;
	struct tss_slot slot[TSS_MAX_MASKS];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, struct tss_key);
	__type(value, struct tss_value);
} acl_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct tss_masks);
} acl_masks SEC(".maps");

struct tss_walk {
	__u64 k[TSS_FIELDS];
	struct tss_key key;
	__u32 best_prio;
	int action; /* -1: no hit yet */
	__u16 tag;
};

static long tss_probe(__u64 i, void *ctx)
{
	struct tss_walk *w = ctx;
	__u32 zero = 0;
	/* An array lookup: the verifier inlines it into a few instructions. */
	const struct tss_masks *m = bpf_map_lookup_elem(&acl_masks, &zero);
	if (!m || i >= TSS_MAX_MASKS || i >= m->count)
		return 1;
	const struct tss_slot *s = &m->slot[i];
	if (s->max_prio <= w->best_prio)
		return 1; /* no later slot can beat the best hit */
	w->key.tuple_id = s->tuple_id;
#pragma unroll
	for (int f = 0; f < TSS_FIELDS; f++)
		w->key.f[f] = w->k[f] & s->mask[f];
	const struct tss_value *v = bpf_map_lookup_elem(&acl_rules, &w->key);
	if (v && v->prio > w->best_prio) {
		w->best_prio = v->prio;
		w->action = v->action;
#ifdef TSS_TAG
		w->tag = v->tag;
#endif
	}
	return 0;
}
#endif

#ifdef FW_BPF_LOOP
struct fw_scan {
	struct fw_key key;
	__u32 n;
	int action; /* -1: no match yet */
};

static long fw_scan_one(__u32 i, void *ctx)
{
	struct fw_scan *s = ctx;
	if (i >= s->n)
		return 1;
	__u32 key = i;
	const struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &key);
	if (!r)
		return 1;
	if (fw_match(r, &s->key)) {
		s->action = r->action;
		return 1;
	}
	return 0;
}
#endif

SEC("xdp")
int firewall(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_hdrs h;

	if (nf_std_parse(data, data_end, &h))
		return XDP_DROP;
	if (!h.ip4)
		return XDP_PASS;
#ifdef FW_STATIC
	const __u32 drop_fragments = FW_DROP_FRAGMENTS;
#else
	__u32 zero = 0;
	const struct fw_conf *conf = bpf_map_lookup_elem(&fw_conf, &zero);
	if (!conf)
		return XDP_PASS;
	const __u32 drop_fragments = conf->drop_fragments;
#endif
	if (drop_fragments && (h.ip4->frag_off & bpf_htons(0x1fff)))
		return XDP_DROP;

	struct fw_key k = {
		.src = h.ip4->saddr,
		.dst = h.ip4->daddr,
		.proto = h.ip4->protocol,
	};
	if (h.tcp) {
		k.sport = bpf_ntohs(h.tcp->source);
		k.dport = bpf_ntohs(h.tcp->dest);
	} else if (h.udp) {
		k.sport = bpf_ntohs(h.udp->source);
		k.dport = bpf_ntohs(h.udp->dest);
	}
	__u64 len = data_end - data;

	int action = -1;
#if defined(FW_STATIC)
#pragma unroll
	for (__u32 i = 0; i < FW_N_RULES; i++) {
		if (fw_match(&fw_rules[i], &k)) {
			action = fw_rules[i].action;
			break;
		}
	}
#elif defined(FW_TSS)
	struct tss_walk w = {
		.k = {bpf_ntohl(k.src), bpf_ntohl(k.dst), k.proto, k.sport, k.dport},
		.action = -1,
	};
	bpf_loop(TSS_MAX_MASKS, tss_probe, &w, 0);
	action = w.action;
#ifdef TSS_TAG
	h.ip4->id = bpf_htons(w.tag);
#endif
#elif defined(FW_BPF_LOOP)
	struct fw_scan s = {.key = k, .n = conf->n_rules, .action = -1};
	bpf_loop(FW_MAX_RULES, fw_scan_one, &s, 0);
	action = s.action;
#else
	__u32 n = conf->n_rules;
	for (__u32 i = 0; i < FW_MAX_RULES; i++) {
		if (i >= n)
			break;
		/* The key has its own slot: the verifier must see `i` itself
		 * (in a register) grow to prove the loop ends. */
		__u32 key = i;
		const struct fw_rule *r = bpf_map_lookup_elem(&fw_rules, &key);
		if (!r)
			break;
		if (fw_match(r, &k)) {
			action = r->action;
			break;
		}
	}
#endif
	if (action < 0) {
		acl_stats_count(1, len);
		return XDP_PASS; /* default allow */
	}
	acl_stats_count(0, len);
	return action == FW_DENY ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
