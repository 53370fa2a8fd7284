/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * static_filter.c: the hand-written C twin of examples/static_filter.nf.
 *
 * The .nf program runs the standard parser (stdlib/std/net.nf) and then
 *   drop if the parse rejected (truncated header, bad IPv4 version/ihl,
 *        a third VLAN tag);
 *   for IPv4: drop if src in 198.19.128.0/17, if ttl <= 1,
 *        if UDP dst port in 27000..=27050,
 *        if TCP dst port in {23, 137..=139, 445} and src not in 198.18.0.0/16,
 *        if TCP has both SYN and FIN;
 *   for IPv6: drop if hop_limit == 0;
 *   else pass.
 *
 * Written as one would by hand: the parse (same decisions as
 * nf_std_parse.h) is fused with the rules, and each rule is tested as soon
 * as the fields it reads have passed their bounds check. Because every
 * outcome other than "pass" is the same verdict (drop), testing a rule
 * before the rest of the parse gives the same verdict for every packet.
 */
#include "nf_std_parse.h"

#define GAME_LO 27000
#define GAME_HI 27050
#define TCP_FIN 0x01
#define TCP_SYN 0x02

SEC("xdp")
int static_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;

	struct nf_eth *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	void *cur = eth + 1;
	__be16 proto = eth->proto;

	/* At most two VLAN tags; a third one rejects. */
#pragma unroll
	for (int i = 0; i < NF_MAX_VLAN + 1; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if (i == NF_MAX_VLAN)
			return XDP_DROP;
		struct nf_vlan *vlan = cur;
		if ((void *)(vlan + 1) > data_end)
			return XDP_DROP;
		cur = vlan + 1;
		proto = vlan->ethertype;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = cur;
		if ((void *)(ip + 1) > data_end)
			return XDP_DROP;
		if (ip->version != 4 || ip->ihl < 5)
			return XDP_DROP;
		/* 198.19.128.0/17 */
		if ((ip->saddr & bpf_htonl(0xffff8000)) == bpf_htonl(0xc6138000))
			return XDP_DROP;
		if (ip->ttl <= 1)
			return XDP_DROP;
		/* Only first fragments carry the L4 header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			return XDP_PASS;
		cur = (void *)ip + ip->ihl * 4; /* skip the options */
		if (ip->protocol == IPPROTO_UDP) {
			struct udphdr *udp = cur;
			if ((void *)(udp + 1) > data_end)
				return XDP_DROP;
			__u16 port = bpf_ntohs(udp->dest);
			if (port >= GAME_LO && port <= GAME_HI)
				return XDP_DROP;
		} else if (ip->protocol == IPPROTO_TCP) {
			struct tcphdr *tcp = cur;
			if ((void *)(tcp + 1) > data_end)
				return XDP_DROP;
			/* Telnet, NetBIOS and SMB from outside 198.18.0.0/16. */
			__u16 port = bpf_ntohs(tcp->dest);
			if ((port == 23 || (port >= 137 && port <= 139) || port == 445) &&
			    (ip->saddr & bpf_htonl(0xffff0000)) != bpf_htonl(0xc6120000))
				return XDP_DROP;
			/* SYN+FIN is never legitimate; the flags are byte 13. */
			__u8 flags = ((__u8 *)tcp)[13];
			if ((flags & (TCP_SYN | TCP_FIN)) == (TCP_SYN | TCP_FIN))
				return XDP_DROP;
		} else if (ip->protocol == IPPROTO_ICMP) {
			struct nf_icmp *icmp = cur;
			if ((void *)(icmp + 1) > data_end)
				return XDP_DROP;
		}
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = cur;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_DROP;
		if (ip6->hop_limit == 0)
			return XDP_DROP;
		/* The L4 header is not read, but a truncated one still rejects. */
		__u32 l4len;
		switch (ip6->nexthdr) {
		case IPPROTO_TCP:
			l4len = sizeof(struct tcphdr);
			break;
		case IPPROTO_UDP:
			l4len = sizeof(struct udphdr);
			break;
		case IPPROTO_ICMPV6:
			l4len = sizeof(struct nf_icmp);
			break;
		default:
			return XDP_PASS;
		}
		if ((void *)(ip6 + 1) + l4len > data_end)
			return XDP_DROP;
	} else if (proto == bpf_htons(ETH_P_ARP)) {
		struct nf_arp *arp = cur;
		if ((void *)(arp + 1) > data_end)
			return XDP_DROP;
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";
