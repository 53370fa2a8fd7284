/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * nf_table_stats.h: the per-table statistics every nflc table keeps, for
 * the C twins: a per-CPU array of {packets, bytes}, hits at index 0 and
 * misses at index 1.
 *
 *   NF_TABLE_STATS(acl_stats) defines the map `acl_stats` and
 *   acl_stats_count(which, len), which counts one packet of `len` bytes.
 */
#ifndef NF_TABLE_STATS_H
#define NF_TABLE_STATS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct nf_counts {
	__u64 packets;
	__u64 bytes;
};

#define NF_TABLE_STATS(map)                                                    \
	struct {                                                               \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);                       \
		__uint(max_entries, 2);                                        \
		__type(key, __u32);                                            \
		__type(value, struct nf_counts);                               \
	} map SEC(".maps");                                                    \
	static __always_inline void map##_count(__u32 which, __u64 len)        \
	{                                                                      \
		struct nf_counts *c = bpf_map_lookup_elem(&map, &which);       \
		if (c) {                                                       \
			c->packets += 1;                                       \
			c->bytes += len;                                       \
		}                                                              \
	}

#endif /* NF_TABLE_STATS_H */
