/* tile_generic.h: the generic register tile, 6 rows x 2 vectors of 128 bits
 * (s 6x8, d 6x4). Sized for the smallest register file it targets, the 16
 * xmm registers of x86-64 SSE2, which has no fused multiply-add: 12
 * accumulators, two B vectors, the A broadcast and one product register
 * (mulps overwrites its operand) make exactly 16. Each k step then does 12
 * multiply-adds for 2 vector and 6 scalar loads and 6 broadcasts; 4 rows
 * (8 accumulators) would leave registers unused and need 2 more loads per
 * 12 multiply-adds, 3 vectors per row would spill. Targets with 32 vector
 * registers (aarch64, POWER VSX, z/Architecture) have room to spare. */
#ifndef LN_TILE_GENERIC_H
#define LN_TILE_GENERIC_H
#define LN_GENERIC_MR 6
#define LN_GENERIC_NR_F32 8
#define LN_GENERIC_NR_F64 4
#endif
