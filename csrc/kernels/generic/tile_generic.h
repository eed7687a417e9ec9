/* tile_generic.h: the generic register tile, 6 rows x 2 vectors of 128 bits
 * (s 6x8, d 6x4).
 *
 * Sized for the smallest register file it targets, the 16 xmm registers of
 * x86-64 SSE2, which has no fused multiply-add: 12 accumulators, the two B
 * vectors of a k step, the A broadcast and one product register (mulps
 * overwrites its operand) make exactly 16, and GCC's packed k loop keeps
 * them all in registers. Each k step does 12 multiply-adds for 2 vector
 * loads and 6 broadcasts, and 12 independent accumulators cover the add
 * latency. 4 rows x 2 vectors would do 8 per 2 loads and 4 broadcasts with
 * 8 accumulators; 4 x 3 would need 17 registers. Targets with 32 vector
 * registers (aarch64, POWER VSX, z/Architecture) have room to spare. The
 * tile fits inside the reference tile, so the tests compare the two kernels
 * element by element. */
#ifndef LN_TILE_GENERIC_H
#define LN_TILE_GENERIC_H
#define LN_GENERIC_MR 6
#define LN_GENERIC_NR_F32 8
#define LN_GENERIC_NR_F64 4
#endif
