/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * router.c: the hand-written C twin of bench/nf/router.nf (specialized) and
 * bench/nf/router_dyn.nf (not specialized).
 *
 * The NF: run the standard parser (nf_std_parse.h); drop if it rejected;
 * pass anything but IPv4, and IPv4 with TTL <= 1 (the kernel answers
 * those); look the destination up, longest prefix first: on a miss, pass;
 * on a hit, write the next hop's MAC as destination and the router's MAC
 * as source, decrement the TTL and patch the checksum incrementally (as the
 * kernel's ip_decrease_ttl), and redirect to the next hop's interface. Like
 * the nflc programs, it counts hits and misses in `routes_stats`
 * (nf_table_stats.h).
 *
 *   -DRT_STATIC  the routes and the router's MAC are compiled in
 *                (rt_routes.h, generated from the same YAML by
 *                bench/tables.rs): a chain of prefix compares, longest
 *                prefix first. The twin of the specialized router.nf.
 *   (default)    the routes live in an LPM trie `rt_routes` and the
 *                router's MAC in an array map `rt_conf`. The twin of
 *                router_dyn.nf.
 *   -DRT_CONF_HASH  the same, with `rt_conf` a hash map, like nflc's `map`
 *                (to measure what the kind of the config map costs).
 */
#include "nf_std_parse.h"
#include "nf_table_stats.h"

NF_TABLE_STATS(routes_stats)

struct next_hop {
	__u32 ifindex;
	__u8 mac[6];
	__u16 _pad;
};

#ifdef RT_STATIC
/* Generated: RT_ROUTER_MAC (a byte initialiser) and RT_ROUTES, entries
 * {net (host order), mask (host order), {ifindex, {mac}}}, longest first. */
#include "rt_routes.h"
struct rt_route {
	__u32 net, mask;
	struct next_hop nh;
};
static const struct rt_route rt_routes[] = {RT_ROUTES};
#define RT_N_ROUTES (sizeof(rt_routes) / sizeof(rt_routes[0]))
#else
struct rt_key {
	__u32 prefixlen;
	__be32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 1024);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rt_key);
	__type(value, struct next_hop);
} rt_routes SEC(".maps");

struct rt_conf {
	__u8 router_mac[6];
	__u16 _pad;
};

struct {
#ifdef RT_CONF_HASH
	__uint(type, BPF_MAP_TYPE_HASH);
#else
	__uint(type, BPF_MAP_TYPE_ARRAY);
#endif
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rt_conf);
} rt_conf SEC(".maps");
#endif

SEC("xdp")
int router(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct nf_hdrs h;

	if (nf_std_parse(data, data_end, &h))
		return XDP_DROP;
	struct iphdr *ip = h.ip4;
	if (!ip)
		return XDP_PASS;
	if (ip->ttl <= 1)
		return XDP_PASS;
	__u64 len = data_end - data;

	const struct next_hop *nh = 0;
#ifdef RT_STATIC
	static const __u8 router_mac[6] = RT_ROUTER_MAC;
	__u32 daddr = bpf_ntohl(ip->daddr);
#pragma unroll
	for (__u32 i = 0; i < RT_N_ROUTES; i++) {
		if ((daddr & rt_routes[i].mask) == rt_routes[i].net) {
			nh = &rt_routes[i].nh;
			break;
		}
	}
#else
	__u32 zero = 0;
	const struct rt_conf *conf = bpf_map_lookup_elem(&rt_conf, &zero);
	if (!conf)
		return XDP_PASS;
	const __u8 *router_mac = conf->router_mac;
	struct rt_key key = {.prefixlen = 32, .addr = ip->daddr};
	nh = bpf_map_lookup_elem(&rt_routes, &key);
#endif
	if (!nh) {
		routes_stats_count(1, len);
		return XDP_PASS;
	}
	routes_stats_count(0, len);

	__builtin_memcpy(h.eth->dst, nh->mac, 6);
	__builtin_memcpy(h.eth->src, router_mac, 6);
	/* ip_decrease_ttl: TTL is the high byte of its checksum word. */
	__u32 check = ip->check;
	check += bpf_htons(0x0100);
	ip->check = (__sum16)(check + (check >= 0xffff));
	ip->ttl -= 1;
	return bpf_redirect(nh->ifindex, 0);
}

char _license[] SEC("license") = "GPL";
