/* tile_avx2.h: the AVX2 register tile, 6 rows x 2 vectors (s 6x16, d 6x8):
 * 12 accumulators of the 16 ymm registers, two for B, one for A. */
#ifndef LN_TILE_AVX2_H
#define LN_TILE_AVX2_H
#define LN_AVX2_MR 6
#define LN_AVX2_NR_F32 16
#define LN_AVX2_NR_F64 8
#endif
