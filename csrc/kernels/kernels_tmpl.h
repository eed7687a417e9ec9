/* kernels_tmpl.h: the per-type half of the kernel contract (see kernels.h).
 * Instantiated for float and double through framework/typed.h. */

/* What one micro-kernel or row-kernel call does besides the product. The
 * GEMM driver fills it per tile: beta is the caller's on the first k block
 * and 1 after it; the epilogue is LN_EPI_NONE except on the last k block.
 * bias, sv and zout already point at the tile's first column / element. */
typedef struct {
    T alpha, beta;
    int b_padded;          /* 1: B rows hold NR readable columns (zero past nr), as packed */
    int epi;               /* LN_EPI_* */
    int act;               /* LN_ACT_* */
    const T *bias;         /* BIAS_ACT: bias of the tile's first column, or NULL */
    T *zout;               /* BIAS_ACT: where Z = product + bias is kept, or NULL */
    ptrdiff_t ldz;
    const T *sv;           /* DACT: the kept tensor (H, or Z for activations that need it) */
    ptrdiff_t ldsv;
} FN(ln_aux);

/* Micro-kernel: for one tile of mr <= MR rows and nr <= NR columns,
 *   C := epi(alpha * A B + beta * C)  (beta == 0: C is not read)
 * A is mr x k with element (i, p) at a[i*rs_a + p*cs_a] (a packed micro-panel
 * has rs_a = 1, cs_a = MR; unpacked A uses the caller's strides). B is k x nr
 * with element (p, j) at b[p*rs_b + j] (packed: rs_b = NR). The kernel never
 * reads A rows >= mr nor B columns >= nr (unless aux->b_padded says they are
 * readable zeros) and never writes outside the tile, so it runs straight on
 * the caller's matrices when they are not packed. k may be 0. */
typedef void (*FN(ln_ukr_ft))(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr,
                              const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                              const T *b, ptrdiff_t rs_b,
                              T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux);

/* Epilogue tile: applies aux's epilogue in place to an m x n tile of C that
 * was just written (BIAS_ACT: add the bias, keep Z if zout, apply the
 * activation; DACT: multiply by the derivative at sv). alpha and beta are
 * ignored. */
typedef void (*FN(ln_epi_ft))(ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux);

/* Row kernel (GEMV) for products with one row of C:
 *   c[j] := epi(alpha * sum_p a[p*cs_a] * b[p*rs_b + j] + beta * c[j]),  0 <= j < n
 * any n >= 1 and k >= 0; beta == 0: c is not read. B has unit column stride. */
typedef void (*FN(ln_gemv_ft))(ptrdiff_t k, ptrdiff_t n, const T *a, ptrdiff_t cs_a,
                               const T *b, ptrdiff_t rs_b, T *c, const FN(ln_aux) *aux);

/* Packing: an mc x kc block of op(A) into MR-row micro-panels (panel r holds
 * rows r*MR.. as kc columns of MR contiguous elements, zero past mc), and a
 * kc x nc panel of op(B) into NR-column micro-panels (kc rows of NR
 * contiguous elements, zero past nc). */
typedef void (*FN(ln_pack_a_ft))(ptrdiff_t mc, ptrdiff_t kc, const T *a,
                                 ptrdiff_t rs_a, ptrdiff_t cs_a, T *ap);
typedef void (*FN(ln_pack_b_ft))(ptrdiff_t kc, ptrdiff_t nc, const T *b,
                                 ptrdiff_t rs_b, ptrdiff_t cs_b, T *bp);

/* One optimizer step over n parameters (tables/optimizers_tmpl.h): with the
 * gradient scaled by gscale; commit 0 only checks; returns 1 if every new
 * value is finite. */
typedef int (*FN(ln_opt_update_ft))(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                                    T *p, const T *g, T *const *s, int commit);

/* Everything an instruction set brings for one element type. */
typedef struct {
    ln_gemm_blocks blk;
    FN(ln_ukr_ft) ukr;
    FN(ln_epi_ft) epi;
    FN(ln_gemv_ft) gemv;
    FN(ln_pack_a_ft) pack_a;
    FN(ln_pack_b_ft) pack_b;
    FN(ln_opt_update_ft) opt_update;
} FN(ln_isa_kernels);
