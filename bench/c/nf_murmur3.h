/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * nf_murmur3.h: murmur3_x86_32 in pieces, as the sketch C twins use it
 * (docs/kfunc-lib.md): a key block's seed-independent mixing, once per
 * key; then per row, one round per block from the row's seed and the
 * final mix with the key length.
 */
#ifndef NF_MURMUR3_H
#define NF_MURMUR3_H

#include <linux/types.h>

static __always_inline __u32 rotl32(__u32 x, int r)
{
	return (x << r) | (x >> (32 - r));
}

/* A key block mixed by c1, rotl 15, c2 (seed-independent). */
static __always_inline __u32 murmur3_mix(__u32 k)
{
	k *= 0xcc9e2d51;
	k = rotl32(k, 15);
	return k * 0x1b873593;
}

/* One block `k` (already mixed) into the hash `h`. */
static __always_inline __u32 murmur3_round(__u32 h, __u32 k)
{
	h ^= k;
	h = rotl32(h, 13);
	return h * 5 + 0xe6546b64;
}

/* The final mix of `h` for a key of `len` bytes. */
static __always_inline __u32 murmur3_final(__u32 h, __u32 len)
{
	h ^= len;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

#endif
