/* ukernel_neon_tmpl.h: the aarch64 Advanced SIMD micro-kernel, 6 rows x 4
 * vectors (s 6x16, d 6x8), for one element type.
 *
 * Why this tile: each k step is 24 vector FMAs on 24 accumulators, from 4 B
 * loads and one column of the A panel, leaving the rest of the 32 registers
 * for B (4) and A (s: q + d holding 6 floats, d: 3 q holding 6 doubles), so
 * nothing spills: 30 (s) / 31 (d) registers live. It does the same work per
 * step as an 8x12 (s) or 8x6 (d) tile, and it is the portable kernel's shape,
 * so the tests compare this kernel element by element against its portable
 * twin and the 6-row A panels need no ISA-specific layout.
 *
 * One always-inline body holds the k loop, specialised at compile time for
 * the rows it holds (1..6), the vectors per row (1..4), whether B's last
 * vector must be read bounded (B not padded), and whether A comes as
 * contiguous columns (a packed panel or transposed A). With all 6 rows, each
 * FMA takes its A value from a lane of the A column registers, loaded as two
 * (s) or three (d) vectors when contiguous and lane by lane otherwise, which
 * keeps the scalars from crowding out accumulators; fewer rows leave
 * registers to spare and load each A value as a scalar. Tiles of at most 8
 * vectors accumulate odd k steps into spare registers so consecutive FMAs do
 * not wait on each other. A full tile is stored from
 * registers, applying bias, identity / ReLU / leaky ReLU and their
 * derivatives on the way; edge tiles hand their accumulators to one shared
 * store routine, which keeps the code small. Other epilogues run on the
 * stored tile (KFN(ln_epi)) while it is in L1. */
#define LN_MR LN_NEON_MR
#define LN_NR (4 * VN)

/* acc + b * (scalar A value s_), and acc + b * (A row I from the A column registers) */
#if LN_IS_F32
#define LN_FMA_S(acc, bv) vfmaq_n_f32(acc, bv, s_)
#define LN_A_DECL float32x4_t a03_ = vdupq_n_f32(0.0f); float32x2_t a45_ = vdup_n_f32(0.0f)
#define LN_A_LOAD(AP) do { a03_ = vld1q_f32(AP); a45_ = vld1_f32((AP) + 4); } while (0)
#define LN_A_GATHER(AP)                                                                        \
    do {                                                                                       \
        a03_ = vld1q_dup_f32(AP);                                                              \
        a03_ = vld1q_lane_f32((AP) + rs_a, a03_, 1);                                           \
        a03_ = vld1q_lane_f32((AP) + 2 * rs_a, a03_, 2);                                       \
        a03_ = vld1q_lane_f32((AP) + 3 * rs_a, a03_, 3);                                       \
        a45_ = vld1_lane_f32((AP) + 5 * rs_a, vld1_dup_f32((AP) + 4 * rs_a), 1);               \
    } while (0)
#define LN_FMA_A0(acc, bv) vfmaq_laneq_f32(acc, bv, a03_, 0)
#define LN_FMA_A1(acc, bv) vfmaq_laneq_f32(acc, bv, a03_, 1)
#define LN_FMA_A2(acc, bv) vfmaq_laneq_f32(acc, bv, a03_, 2)
#define LN_FMA_A3(acc, bv) vfmaq_laneq_f32(acc, bv, a03_, 3)
#define LN_FMA_A4(acc, bv) vfmaq_lane_f32(acc, bv, a45_, 0)
#define LN_FMA_A5(acc, bv) vfmaq_lane_f32(acc, bv, a45_, 1)
#else
#define LN_FMA_S(acc, bv) vfmaq_n_f64(acc, bv, s_)
#define LN_A_DECL float64x2_t a01_ = vdupq_n_f64(0.0), a23_ = a01_, a45_ = a01_
#define LN_A_LOAD(AP) do { a01_ = vld1q_f64(AP); a23_ = vld1q_f64((AP) + 2); a45_ = vld1q_f64((AP) + 4); } while (0)
#define LN_A_GATHER(AP)                                                                        \
    do {                                                                                       \
        a01_ = vld1q_lane_f64((AP) + rs_a, vld1q_dup_f64(AP), 1);                              \
        a23_ = vld1q_lane_f64((AP) + 3 * rs_a, vld1q_dup_f64((AP) + 2 * rs_a), 1);             \
        a45_ = vld1q_lane_f64((AP) + 5 * rs_a, vld1q_dup_f64((AP) + 4 * rs_a), 1);             \
    } while (0)
#define LN_FMA_A0(acc, bv) vfmaq_laneq_f64(acc, bv, a01_, 0)
#define LN_FMA_A1(acc, bv) vfmaq_laneq_f64(acc, bv, a01_, 1)
#define LN_FMA_A2(acc, bv) vfmaq_laneq_f64(acc, bv, a23_, 0)
#define LN_FMA_A3(acc, bv) vfmaq_laneq_f64(acc, bv, a23_, 1)
#define LN_FMA_A4(acc, bv) vfmaq_laneq_f64(acc, bv, a45_, 0)
#define LN_FMA_A5(acc, bv) vfmaq_laneq_f64(acc, bv, a45_, 1)
#endif

#include "kernels/fast_epilogue_tmpl.h"

/* B vector J of the row at BP; the last one bounded to nl columns when BPART. */
#define LN_UK_BLOAD(J, BP) \
    if (NV > J) b##J##_ = NV == J + 1 && BPART ? v_load_part((BP) + J * VN, nl) : v_loadu((BP) + J * VN)

/* Row I's FMAs with the multiply FMA(acc, b); with SPLIT, ODD steps go to
 * the spare accumulators I2, I3. */
#define LN_UK_ROW(I, FMA, ODD)                                                                 \
    do {                                                                                       \
        if (SPLIT && (ODD)) {                                                                  \
            c##I##2 = FMA(c##I##2, b0_);                                                       \
            if (NV > 1) c##I##3 = FMA(c##I##3, b1_);                                           \
        } else {                                                                               \
            c##I##0 = FMA(c##I##0, b0_);                                                       \
            if (NV > 1) c##I##1 = FMA(c##I##1, b1_);                                           \
            if (NV > 2) c##I##2 = FMA(c##I##2, b2_);                                           \
            if (NV > 3) c##I##3 = FMA(c##I##3, b3_);                                           \
        }                                                                                      \
    } while (0)
/* Row I with A from the column registers, or from a scalar load of row I only. */
#define LN_UK_ROW_L(I, ODD) if (MRV > I) LN_UK_ROW(I, LN_FMA_A##I, ODD)
#define LN_UK_ROW_S(I, AP, ODD) if (MRV > I) { const T s_ = (AP)[I * rs_a]; LN_UK_ROW(I, LN_FMA_S, ODD); }

/* One k step: the B row at BP, the A column at AP, a rank-1 update of the tile. */
#define LN_UK_STEP(AP, BP, ODD)                                                                \
    do {                                                                                       \
        V b0_, b1_ = v_zero(), b2_ = v_zero(), b3_ = v_zero();                                 \
        b0_ = NV == 1 && BPART ? v_load_part(BP, nl) : v_loadu(BP);                            \
        LN_UK_BLOAD(1, BP); LN_UK_BLOAD(2, BP); LN_UK_BLOAD(3, BP);                            \
        if (MRV == LN_MR) {                                                                    \
            if (AVEC) LN_A_LOAD(AP); else LN_A_GATHER(AP);                                     \
            LN_UK_ROW_L(0, ODD); LN_UK_ROW_L(1, ODD); LN_UK_ROW_L(2, ODD);                     \
            LN_UK_ROW_L(3, ODD); LN_UK_ROW_L(4, ODD); LN_UK_ROW_L(5, ODD);                     \
        } else {                                                                               \
            LN_UK_ROW_S(0, AP, ODD); LN_UK_ROW_S(1, AP, ODD); LN_UK_ROW_S(2, AP, ODD);         \
            LN_UK_ROW_S(3, AP, ODD); LN_UK_ROW_S(4, AP, ODD); LN_UK_ROW_S(5, AP, ODD);         \
        }                                                                                      \
    } while (0)

/* Vector J of row I of a full tile: scale by alpha, merge beta*C (C unread
 * when beta == 0), apply a cheap epilogue, store. */
#define LN_UK_STORE_V(I, J)                                                                    \
    do {                                                                                       \
        V x_ = v_mul(va, c##I##J);                                                             \
        if (bnz) x_ = v_fma(vb, v_loadu(cr_ + J * VN), x_);                                    \
        if (fast == LN_FAST_BIAS_ACT) {                                                   \
            if (aux->bias) x_ = v_add(x_, vbias##J);                                           \
            x_ = FN(ln_cheap_act)(aux->act, x_);                                          \
        } else if (fast == LN_FAST_DACT) {                                                \
            x_ = v_mul(x_, FN(ln_cheap_dact)(aux->act, v_loadu(aux->sv + I * aux->ldsv + J * VN))); \
        }                                                                                      \
        v_storeu(cr_ + J * VN, x_);                                                            \
    } while (0)
#define LN_UK_STORE(I)                                                                         \
    do {                                                                                       \
        T *cr_ = c + I * rs_c;                                                                 \
        LN_UK_STORE_V(I, 0); LN_UK_STORE_V(I, 1); LN_UK_STORE_V(I, 2); LN_UK_STORE_V(I, 3);    \
    } while (0)

/* Stores an edge tile (mr rows, nr columns) whose product is in acc (row i's
 * vector j at acc[4*i + j]): the same steps as a full tile's store, bounded
 * to the tile. One copy per type serves every edge shape. */
static void FN(ln_neon_store_edge)(ptrdiff_t mr, ptrdiff_t nr, const V *acc, T *c, ptrdiff_t rs_c,
                                   const FN(ln_aux) *aux)
{
    const V va = v_set1(aux->alpha), vb = v_set1(aux->beta);
    const int bnz = aux->beta != 0, fast = FN(ln_fast_epilogue)(aux);
    ptrdiff_t i, j;
    /* Loop over the tile's rows, then VN columns at a time (the last may be partial) */
    for (i = 0; i < mr; ++i) {
        T *cr = c + i * rs_c;
        for (j = 0; j < nr; j += VN) {
            const ptrdiff_t n = nr - j;
            V x = v_mul(va, acc[4 * i + j / VN]);
            if (bnz) x = v_fma(vb, n >= VN ? v_loadu(cr + j) : v_load_part(cr + j, n), x);
            if (fast == LN_FAST_BIAS_ACT) {
                if (aux->bias) x = v_add(x, n >= VN ? v_loadu(aux->bias + j) : v_load_part(aux->bias + j, n));
                x = FN(ln_cheap_act)(aux->act, x);
            } else if (fast == LN_FAST_DACT) {
                const T *hr = aux->sv + i * aux->ldsv + j;
                x = v_mul(x, FN(ln_cheap_dact)(aux->act, n >= VN ? v_loadu(hr) : v_load_part(hr, n)));
            }
            if (n >= VN) v_storeu(cr + j, x); else v_store_part(cr + j, x, n);
        }
    }
    if (aux->epi != LN_EPI_NONE && !fast) KFN(ln_epi)(mr, nr, c, rs_c, aux);
}

/* The kernel for MRV rows and NV vectors per row. BPART: B's last vector
 * holds nl < VN readable columns (B not padded). AVEC (with MRV == 6 only):
 * rs_a == 1, so each A column is 6 contiguous elements. A full tile
 * (MRV == 6, nr == LN_NR) is stored from registers; any other shape goes
 * through FN(ln_neon_store_edge), so edge shapes cost one small k loop each. */
LN_VINLINE void FN(ln_neon_body)(const int MRV, const int NV, const int BPART, const int AVEC,
                                 ptrdiff_t k, ptrdiff_t nr, const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                 const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux)
{
    V c00 = v_zero(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00, c13 = c00;
    V c20 = c00, c21 = c00, c22 = c00, c23 = c00, c30 = c00, c31 = c00, c32 = c00, c33 = c00;
    V c40 = c00, c41 = c00, c42 = c00, c43 = c00, c50 = c00, c51 = c00, c52 = c00, c53 = c00;
    const int full = MRV == LN_MR && NV == 4 && !BPART && nr == LN_NR;
    const int SPLIT = NV <= 2 && MRV * NV <= 8;
    const ptrdiff_t nl = nr - VN * (NV - 1);   /* readable columns in B's last vector */
    ptrdiff_t p;
    LN_A_DECL;
    if (full) {
        /* Fetch the C tile while the k loop runs: it is needed right after */
        for (p = 0; p < LN_MR; ++p) {
            LN_PREFETCH(c + p * rs_c);
            LN_PREFETCH(c + p * rs_c + LN_NR - 1);
        }
    }
    /* Loop over k: rank-1 updates of the register tile. A tile of at most 8
     * vectors takes two steps per iteration (even and odd accumulators);
     * larger ones have enough independent FMAs and take one, which leaves
     * the compiler no second step to interleave and so no reason to spill
     * an accumulator. */
    p = 0;
    if (SPLIT)
        for (; p + 2 <= k; p += 2) {
            LN_UK_STEP(a, b, 0); a += cs_a; b += rs_b;
            LN_UK_STEP(a, b, 1); a += cs_a; b += rs_b;
        }
    for (; p < k; ++p) {
        LN_UK_STEP(a, b, 0); a += cs_a; b += rs_b;
    }
    if (SPLIT) {
        /* Fold the odd steps' accumulators back */
        c00 = v_add(c00, c02); c10 = v_add(c10, c12); c20 = v_add(c20, c22);
        c30 = v_add(c30, c32); c40 = v_add(c40, c42); c50 = v_add(c50, c52);
        c01 = v_add(c01, c03); c11 = v_add(c11, c13); c21 = v_add(c21, c23);
        c31 = v_add(c31, c33); c41 = v_add(c41, c43); c51 = v_add(c51, c53);
    }
    if (full) {
        const V va = v_set1(aux->alpha), vb = v_set1(aux->beta);
        const int bnz = aux->beta != 0, fast = FN(ln_fast_epilogue)(aux);
        V vbias0 = v_zero(), vbias1 = v_zero(), vbias2 = v_zero(), vbias3 = v_zero();
        if (fast == LN_FAST_BIAS_ACT && aux->bias) {
            vbias0 = v_loadu(aux->bias); vbias1 = v_loadu(aux->bias + VN);
            vbias2 = v_loadu(aux->bias + 2 * VN); vbias3 = v_loadu(aux->bias + 3 * VN);
        }
        LN_UK_STORE(0); LN_UK_STORE(1); LN_UK_STORE(2); LN_UK_STORE(3); LN_UK_STORE(4); LN_UK_STORE(5);
        if (aux->epi != LN_EPI_NONE && !fast) KFN(ln_epi)(LN_MR, LN_NR, c, rs_c, aux);
    } else {
        const V acc[24] = { c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23,
                            c30, c31, c32, c33, c40, c41, c42, c43, c50, c51, c52, c53 };
        FN(ln_neon_store_edge)(MRV, nr, acc, c, rs_c, aux);
    }
}

/* Case labels: (rows, vectors, B bounded) -> one specialised body. */
#define LN_UK_CALL(R, NVV, BP, AV) \
    FN(ln_neon_body)(R, NVV, BP, AV, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux)
#define LN_UK_CASE_RV(R, NVV, AV)                                                              \
    case R * 8 + (NVV - 1) * 2 + 0: LN_UK_CALL(R, NVV, 0, AV); break;                          \
    case R * 8 + (NVV - 1) * 2 + 1: LN_UK_CALL(R, NVV, 1, AV); break;
#define LN_UK_CASE(R, AV) \
    LN_UK_CASE_RV(R, 1, AV) LN_UK_CASE_RV(R, 2, AV) LN_UK_CASE_RV(R, 3, AV) LN_UK_CASE_RV(R, 4, AV)

LN_VFUNC void KFN(ln_ukr)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr, const T *a, ptrdiff_t rs_a,
                          ptrdiff_t cs_a, const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c,
                          const FN(ln_aux) *aux)
{
    const ptrdiff_t nv = (nr + VN - 1) / VN;
    const int bpart = nr != VN * nv && !aux->b_padded;
    const ptrdiff_t key = mr * 8 + (nv - 1) * 2 + bpart;
    if (mr <= 0 || nr <= 0) return;
    if (mr == LN_MR && rs_a == 1) {
        /* All 6 rows with contiguous A columns (packed panels, transposed A);
         * the full tile among them is the hot path of large problems */
        switch (key) { LN_UK_CASE(LN_MR, 1) default: break; }
        return;
    }
    switch (key) {
        LN_UK_CASE(1, 0) LN_UK_CASE(2, 0) LN_UK_CASE(3, 0)
        LN_UK_CASE(4, 0) LN_UK_CASE(5, 0) LN_UK_CASE(6, 0)
    default: break;
    }
}

#include "kernels/pack_tmpl.h"

#undef LN_UK_CALL
#undef LN_UK_CASE_RV
#undef LN_UK_CASE
#undef LN_UK_BLOAD
#undef LN_UK_ROW
#undef LN_UK_ROW_L
#undef LN_UK_ROW_S
#undef LN_UK_STEP
#undef LN_UK_STORE_V
#undef LN_UK_STORE
#undef LN_FMA_S
#undef LN_A_DECL
#undef LN_A_LOAD
#undef LN_A_GATHER
#undef LN_FMA_A0
#undef LN_FMA_A1
#undef LN_FMA_A2
#undef LN_FMA_A3
#undef LN_FMA_A4
#undef LN_FMA_A5
#undef LN_MR
#undef LN_NR
