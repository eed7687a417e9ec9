/* gemm_avx2.c: AVX2+FMA micro-kernels and epilogue tiles.
 * Placeholder: forwards to the reference kernels until the SIMD code lands. */
#include "../kernels.h"

#if LN_BUILD_AVX2
void ln_sgemm_avx2_6x16(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                        const float *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                        const float *b, ptrdiff_t rs_b,
                        float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux)
{ ln_sgemm_ref_6x16(k, mr, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); }
void ln_dgemm_avx2_6x8(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                       const double *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                       const double *b, ptrdiff_t rs_b,
                       double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux)
{ ln_dgemm_ref_6x8(k, mr, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); }
void ln_sepi_avx2(ptrdiff_t m, ptrdiff_t n, float *c, ptrdiff_t rs_c, const ln_sgemm_aux *aux)
{ ln_sepi_ref(m, n, c, rs_c, aux); }
void ln_depi_avx2(ptrdiff_t m, ptrdiff_t n, double *c, ptrdiff_t rs_c, const ln_dgemm_aux *aux)
{ ln_depi_ref(m, n, c, rs_c, aux); }
#endif
