/* tile_ref.h: the portable kernels' tile (the AVX2 shape, which compilers
 * vectorise well with SSE2 too). */
#ifndef LN_TILE_REF_H
#define LN_TILE_REF_H
#define LN_REF_MR 6
#define LN_REF_NR_F32 16
#define LN_REF_NR_F64 8
#endif
