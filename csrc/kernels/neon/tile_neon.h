/* tile_neon.h: the NEON register tile, 6 rows x 4 vectors (s 6x16, d 6x8).
 * Register budget of the 32 128-bit registers: 24 accumulators, 4 for a row
 * of B, and one column of the A panel (s: one q and one d register, d: three
 * q registers), so 30 (s) or 31 (d). See ukernel_neon_tmpl.h. */
#ifndef LN_TILE_NEON_H
#define LN_TILE_NEON_H
#define LN_NEON_MR 6
#define LN_NEON_NR_F32 16
#define LN_NEON_NR_F64 8
#endif
