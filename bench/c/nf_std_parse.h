/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * nf_std_parse.h: a hand-written C twin of `parser std_parse` in
 * stdlib/std/net.nf, shared by the C twins in this directory.
 *
 * Same meaning as the .nf parser, decision for decision:
 *   ethernet (14 bytes)
 *     -> 0x8100 | 0x88a8: a VLAN tag (4 bytes), at most two (a bounded
 *        loop); a third tag does not fit the two-element stack and rejects
 *     -> 0x0800 ipv4 | 0x86dd ipv6 | 0x0806 arp (28 bytes) | else accept
 *   ipv4 (20 bytes): version 4 and ihl >= 5, else reject; options are
 *        skipped using ihl (no bounds check of their own, as `skip`);
 *        only frag_offset == 0 goes on to L4:
 *        1 icmp (4 bytes) | 6 tcp (20) | 17 udp (8) | else accept
 *   ipv6 (40 bytes): next header 6 tcp | 17 udp | 58 icmpv6 (4) | else accept
 *
 * A header that does not fit in the packet ("extract" fails) stops the
 * parse and returns `rejected` = 1; headers parsed before it stay valid
 * (non-NULL), the rest are NULL. This is nfl's reject-does-not-drop model:
 * the caller decides what a rejected packet means.
 *
 * static_filter.c fuses this parse with its rules by hand; it shares the
 * structs and constants only.
 *
 * One bounds check per header, direct packet access, byte-order constants
 * converted at compile time with bpf_htons.
 */
#ifndef NF_STD_PARSE_H
#define NF_STD_PARSE_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif

/* uapi's struct ethhdr is declared packed (alignment 1), which makes clang
 * load h_proto byte by byte (two loads, a shift and an or); this one has the
 * same layout with the natural alignment of its ethertype, so that is one
 * 16-bit load. The kernel allows unaligned packet loads on this machine. */
struct nf_eth {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

/* The uapi headers have no VLAN tag struct, and their ARP/ICMP structs are
 * not the sizes std.net extracts (ARP: 28 bytes for IPv4 over Ethernet;
 * ICMP and ICMPv6: the 4 common bytes only), so these are spelled out. */
struct nf_vlan {
	__be16 tci;
	__be16 ethertype;
};

struct nf_arp {
	__be16 htype;
	__be16 ptype;
	__u8 hlen;
	__u8 plen;
	__be16 oper;
	__u8 sha[6];
	__u8 spa[4];
	__u8 tha[6];
	__u8 tpa[4];
} __attribute__((packed));

struct nf_icmp {
	__u8 type;
	__u8 code;
	__be16 checksum;
};

_Static_assert(sizeof(struct nf_eth) == 14, "ethernet is 14 bytes");
_Static_assert(sizeof(struct nf_arp) == 28, "arp is 28 bytes");
_Static_assert(sizeof(struct iphdr) == 20, "ipv4 is 20 bytes");
_Static_assert(sizeof(struct ipv6hdr) == 40, "ipv6 is 40 bytes");
_Static_assert(sizeof(struct tcphdr) == 20, "tcp is 20 bytes");

#define NF_MAX_VLAN 2

/* The parsed headers; NULL means "not valid". */
struct nf_hdrs {
	struct nf_eth *eth;
	struct nf_vlan *vlan[NF_MAX_VLAN];
	struct nf_arp *arp;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	struct nf_icmp *icmp;
	struct nf_icmp *icmp6;
	struct tcphdr *tcp;
	struct udphdr *udp;
};

/* Parse the packet [data, data_end). Returns 1 when the parse rejected
 * (truncated header, bad IPv4 version/ihl, a third VLAN tag), else 0. */
static __always_inline int nf_std_parse(void *data, void *data_end, struct nf_hdrs *h)
{
	__builtin_memset(h, 0, sizeof(*h));

	struct nf_eth *eth = data;
	if ((void *)(eth + 1) > data_end)
		return 1;
	h->eth = eth;
	void *cur = eth + 1;
	__be16 proto = eth->proto;

	/* At most two tags; the bound is the size of the VLAN stack. */
#pragma unroll
	for (int i = 0; i < NF_MAX_VLAN + 1; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (i == NF_MAX_VLAN)
			return 1; /* the stack is full: the loop bound is reached */
		struct nf_vlan *vlan = cur;
		if ((void *)(vlan + 1) > data_end)
			return 1;
		h->vlan[i] = vlan;
		cur = vlan + 1;
		proto = vlan->ethertype;
	}

	__u8 l4proto;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		if ((void *)(ip + 1) > data_end)
			return 1;
		h->ip4 = ip;
		if (ip->version != 4 || ip->ihl < 5)
			return 1;
		/* skip the options: ihl counts 32-bit words */
		cur = (void *)ip + ip->ihl * 4;
		/* only first fragments carry the L4 header */
		if (ip->frag_off & bpf_htons(0x1fff))
			return 0;
		l4proto = ip->protocol;
		if (l4proto == IPPROTO_ICMP) {
			struct nf_icmp *icmp = cur;
			if ((void *)(icmp + 1) > data_end)
				return 1;
			h->icmp = icmp;
			return 0;
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > data_end)
			return 1;
		h->ip6 = ip6;
		cur = ip6 + 1;
		l4proto = ip6->nexthdr;
		if (l4proto == IPPROTO_ICMPV6) {
			struct nf_icmp *icmp6 = cur;
			if ((void *)(icmp6 + 1) > data_end)
				return 1;
			h->icmp6 = icmp6;
			return 0;
		}
	} else if (proto == bpf_htons(ETH_P_ARP)) {
		struct nf_arp *arp = cur;
		if ((void *)(arp + 1) > data_end)
			return 1;
		h->arp = arp;
		return 0;
	} else {
		return 0; /* unknown ethertype: accept */
	}

	if (l4proto == IPPROTO_TCP) {
		struct tcphdr *tcp = cur;
		if ((void *)(tcp + 1) > data_end)
			return 1;
		h->tcp = tcp;
	} else if (l4proto == IPPROTO_UDP) {
		struct udphdr *udp = cur;
		if ((void *)(udp + 1) > data_end)
			return 1;
		h->udp = udp;
	}
	return 0;
}

#endif /* NF_STD_PARSE_H */
