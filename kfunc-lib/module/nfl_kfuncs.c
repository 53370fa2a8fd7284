// SPDX-License-Identifier: GPL-2.0
/*
 * nfl_kfuncs: the kfunc-lib kernel module (eNetSTL-style kfuncs for nflc).
 *
 * Registers the nfl_* kfuncs for XDP and TC (SCHED_CLS) programs. The
 * algorithms live in nfl_algos.h, shared with the userspace test harness
 * so that the tests prove them equal to the Rust twin; the contract is
 * docs/kfunc-lib.md. Builds against 6.1 (Debian bookworm headers) and later.
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/errno.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/types.h>

#include "nfl_algos.h"

/* Older kernels (6.1) lack these; the fallbacks give the same BTF. */
#ifndef __bpf_kfunc
#define __bpf_kfunc __used noinline
#endif
#ifndef __bpf_kfunc_start_defs
#define __bpf_kfunc_start_defs()                                               \
	__diag_push();                                                         \
	__diag_ignore_all("-Wmissing-prototypes",                              \
			  "Global kfuncs as their definitions will be in BTF")
#define __bpf_kfunc_end_defs() __diag_pop()
#endif
#ifndef BTF_KFUNCS_START
#define BTF_KFUNCS_START(name) BTF_SET8_START(name)
#define BTF_KFUNCS_END(name) BTF_SET8_END(name)
#endif

static unsigned long long pool_seed = 1;
module_param(pool_seed, ullong, 0444);
MODULE_PARM_DESC(pool_seed, "xorshift64* seed of the random pool");
static unsigned int pool_len = 4096;
module_param(pool_len, uint, 0444);
MODULE_PARM_DESC(pool_len, "entries in the random pool (1..1048576)");
static unsigned int pool_p_num = 1;
module_param(pool_p_num, uint, 0444);
MODULE_PARM_DESC(pool_p_num, "sampling probability numerator");
static unsigned int pool_p_den_log2 = 4;
module_param(pool_p_den_log2, uint, 0444);
MODULE_PARM_DESC(pool_p_den_log2, "log2 of the probability denominator (0..16)");

static u32 *nfl_pool;
static DEFINE_PER_CPU(u32, nfl_pool_cursor);
static DEFINE_PER_CPU(struct nfl_nitro_state, nfl_nitro);

__bpf_kfunc_start_defs();

__bpf_kfunc u32 nfl_murmur3_32(const u8 *key, u32 key__sz, u32 seed)
{
	return nfl_murmur3_32_impl(key, key__sz, seed);
}

/* The "SIMD" multi-hash: out[i] = murmur3_32(key, seed(i)), k = out__sz / 4. */
__bpf_kfunc int nfl_multi_hash(const u8 *key, u32 key__sz, u32 *out, u32 out__sz)
{
	nfl_multi_hash_impl(key, key__sz, out, out__sz / 4);
	return out__sz / 4;
}

__bpf_kfunc u32 nfl_min_u32(const u32 *vals, u32 vals__sz)
{
	return nfl_min_u32_impl(vals, vals__sz / 4);
}

__bpf_kfunc u32 nfl_ffs32(u32 x) { return nfl_ffs32_impl(x); }
__bpf_kfunc u32 nfl_ffs64(u64 x) { return nfl_ffs64_impl(x); }
__bpf_kfunc u32 nfl_ctz32(u32 x) { return nfl_ctz32_impl(x); }
__bpf_kfunc u32 nfl_ctz64(u64 x) { return nfl_ctz64_impl(x); }
__bpf_kfunc u32 nfl_clz32(u32 x) { return nfl_clz32_impl(x); }
__bpf_kfunc u32 nfl_clz64(u64 x) { return nfl_clz64_impl(x); }
__bpf_kfunc u32 nfl_popcnt32(u32 x) { return nfl_popcnt32_impl(x); }
__bpf_kfunc u32 nfl_popcnt64(u64 x) { return nfl_popcnt64_impl(x); }

/* rows_n = rows << 32 | n (a kfunc takes at most five arguments). */
__bpf_kfunc int nfl_cm_add(u32 *ctr, u32 ctr__sz, const u8 *key, u32 key__sz, u64 rows_n)
{
	u32 rows = rows_n >> 32, cols = nfl_grid_cols(ctr__sz, rows);

	if (!cols)
		return -EINVAL;
	nfl_cm_add_impl(ctr, rows, cols, key, key__sz, (u32)rows_n);
	return 0;
}

__bpf_kfunc u32 nfl_cm_query(const u32 *ctr, u32 ctr__sz, const u8 *key, u32 key__sz, u32 rows)
{
	u32 cols = nfl_grid_cols(ctr__sz, rows);

	return cols ? nfl_cm_query_impl(ctr, rows, cols, key, key__sz) : 0;
}

__bpf_kfunc int nfl_cs_add(s32 *ctr, u32 ctr__sz, const u8 *key, u32 key__sz, u64 rows_n)
{
	u32 rows = rows_n >> 32, cols = nfl_grid_cols(ctr__sz, rows);

	if (!cols)
		return -EINVAL;
	nfl_cs_add_impl(ctr, rows, cols, key, key__sz, (u32)rows_n);
	return 0;
}

__bpf_kfunc s64 nfl_cs_query(const s32 *ctr, u32 ctr__sz, const u8 *key, u32 key__sz, u32 rows)
{
	u32 cols = nfl_grid_cols(ctr__sz, rows);

	return cols ? nfl_cs_query_impl(ctr, rows, cols, key, key__sz) : 0;
}

static u32 nfl_bloom_bits(u32 words__sz)
{
	u32 m = words__sz * 8;

	return (words__sz >= 4 && !(m & (m - 1))) ? m : 0;
}

__bpf_kfunc int nfl_bloom_add(u32 *words, u32 words__sz, const u8 *key, u32 key__sz, u32 k)
{
	u32 m = nfl_bloom_bits(words__sz);

	if (!m)
		return -EINVAL;
	nfl_bloom_add_impl(words, m, k, key, key__sz);
	return 0;
}

__bpf_kfunc int nfl_bloom_contains(const u32 *words, u32 words__sz, const u8 *key, u32 key__sz,
				   u32 k)
{
	u32 m = nfl_bloom_bits(words__sz);

	if (!m)
		return -EINVAL;
	return nfl_bloom_contains_impl(words, m, k, key, key__sz);
}

/* p = log2(regs__sz), which must be a power of two in 2^4 .. 2^16. */
__bpf_kfunc int nfl_hll_add(u8 *regs, u32 regs__sz, const u8 *key, u32 key__sz)
{
	u32 p = nfl_ctz32_impl(regs__sz);

	if (p < 4 || p > 16 || regs__sz != (1u << p))
		return -EINVAL;
	nfl_hll_add_impl(regs, p, key, key__sz);
	return 0;
}

/* The next geometric variate of this CPU's cursor into the module's pool. */
__bpf_kfunc u32 nfl_pool_next(void)
{
	u32 *cur = this_cpu_ptr(&nfl_pool_cursor);
	u32 v = nfl_pool[*cur];

	*cur = *cur + 1 == pool_len ? 0 : *cur + 1;
	return v;
}

__bpf_kfunc u32 nfl_pool_get(u32 idx)
{
	return nfl_pool[idx % pool_len];
}

/* NitroSketch update with this CPU's sampler state (needs pool_p_num = 1). */
__bpf_kfunc int nfl_nitro_add(s32 *ctr, u32 ctr__sz, const u8 *key, u32 key__sz, u64 rows_n)
{
	u32 rows = rows_n >> 32, cols = nfl_grid_cols(ctr__sz, rows);

	if (!cols || pool_p_num != 1)
		return -EINVAL;
	nfl_nitro_add_impl(this_cpu_ptr(&nfl_nitro), nfl_pool, pool_len, pool_p_den_log2, ctr,
			   rows, cols, key, key__sz, (u32)rows_n);
	return 0;
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(nfl_kfunc_ids)
BTF_ID_FLAGS(func, nfl_murmur3_32)
BTF_ID_FLAGS(func, nfl_multi_hash)
BTF_ID_FLAGS(func, nfl_min_u32)
BTF_ID_FLAGS(func, nfl_ffs32)
BTF_ID_FLAGS(func, nfl_ffs64)
BTF_ID_FLAGS(func, nfl_ctz32)
BTF_ID_FLAGS(func, nfl_ctz64)
BTF_ID_FLAGS(func, nfl_clz32)
BTF_ID_FLAGS(func, nfl_clz64)
BTF_ID_FLAGS(func, nfl_popcnt32)
BTF_ID_FLAGS(func, nfl_popcnt64)
BTF_ID_FLAGS(func, nfl_cm_add)
BTF_ID_FLAGS(func, nfl_cm_query)
BTF_ID_FLAGS(func, nfl_cs_add)
BTF_ID_FLAGS(func, nfl_cs_query)
BTF_ID_FLAGS(func, nfl_bloom_add)
BTF_ID_FLAGS(func, nfl_bloom_contains)
BTF_ID_FLAGS(func, nfl_hll_add)
BTF_ID_FLAGS(func, nfl_pool_next)
BTF_ID_FLAGS(func, nfl_pool_get)
BTF_ID_FLAGS(func, nfl_nitro_add)
BTF_KFUNCS_END(nfl_kfunc_ids)

static const struct btf_kfunc_id_set nfl_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &nfl_kfunc_ids,
};

static int __init nfl_kfuncs_init(void)
{
	int err;

	if (pool_len == 0 || pool_len > (1u << 20) || pool_p_den_log2 > NFL_MAX_P_DEN_LOG2 ||
	    pool_p_num == 0 || pool_p_num > (1u << pool_p_den_log2))
		return -EINVAL;
	nfl_pool = kvmalloc_array(pool_len, sizeof(u32), GFP_KERNEL);
	if (!nfl_pool)
		return -ENOMEM;
	nfl_pool_fill(nfl_pool, pool_len, pool_seed, pool_p_num, pool_p_den_log2);

	err = register_btf_kfunc_id_set(BPF_PROG_TYPE_XDP, &nfl_kfunc_set);
	if (!err)
		err = register_btf_kfunc_id_set(BPF_PROG_TYPE_SCHED_CLS, &nfl_kfunc_set);
	if (err) {
		kvfree(nfl_pool);
		nfl_pool = NULL;
	}
	return err;
}

/* Programs that call these kfuncs hold a reference on the module, so the
 * pool is unused by the time exit runs. */
static void __exit nfl_kfuncs_exit(void)
{
	kvfree(nfl_pool);
}

module_init(nfl_kfuncs_init);
module_exit(nfl_kfuncs_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("nflc kfunc library (eNetSTL-style sketches, hashes, bit ops, random pool)");
