/* ukernel_generic_tmpl.h: the generic micro-kernel, 6 rows x 2 vectors
 * (s 6x8, d 6x4), for one element type, on the vector-extension op layer
 * (see tile_generic.h for why this tile).
 *
 * Each k step loads one row of B as two vectors and broadcasts one A value
 * per row of the tile; the 12 accumulators are vector variables the
 * compiler keeps in registers. One always-inline body is specialised at
 * compile time for the rows it holds (1..6), the vectors per row (1 or 2)
 * and how its last vector is bounded, plus a packed full tile with constant
 * strides; edge tiles do only the work they need and never touch memory
 * outside the tile. Bias, identity / ReLU / leaky ReLU and their
 * derivatives are applied to the accumulators before the store; other
 * epilogues run on the stored tile (KFN(ln_epi)) while it is in L1. */
#define LN_MR LN_GENERIC_MR
#define LN_NR (2 * VN)

#include "kernels/fast_epilogue_tmpl.h"

/* The B row at BP: two vectors, or one; the last one bounded to nl columns
 * when PART == 2 (B not padded). */
#define LN_UK_BLOAD(BP)                                                                        \
    do {                                                                                       \
        if (NV == 1) b0_ = PART == 2 ? v_load_part(BP, nl) : v_loadu(BP);                      \
        else {                                                                                 \
            b0_ = v_loadu(BP);                                                                 \
            b1_ = PART == 2 ? v_load_part((BP) + VN, nl) : v_loadu((BP) + VN);                 \
        }                                                                                      \
    } while (0)

/* Row I's multiply-adds with A value AV; with one vector per row, ODD
 * steps go to the row's unused second accumulator, so that consecutive
 * steps do not wait on each other's add. */
#define LN_UK_ROW(I, X0, X1, AV, ODD)                                                          \
    if (MRV > I) {                                                                             \
        const V a_ = v_bcast(AV);                                                              \
        if (NV == 1 && (ODD)) X1 = v_fma(a_, b0_, X1); else X0 = v_fma(a_, b0_, X0);           \
        if (NV > 1) X1 = v_fma(a_, b1_, X1);                                                   \
    }

/* One k step: the B row at BP, the A column at AP, a rank-1 update of the tile. */
#define LN_UK_STEP(AP, BP, ODD)                                                                \
    do {                                                                                       \
        V b0_, b1_ = v_zero();                                                                 \
        LN_UK_BLOAD(BP);                                                                       \
        LN_UK_ROW(0, c0, c1, (AP), ODD)                                                        \
        LN_UK_ROW(1, c2, c3, (AP) + rs_a, ODD)                                                 \
        LN_UK_ROW(2, c4, c5, (AP) + 2 * rs_a, ODD)                                             \
        LN_UK_ROW(3, c6, c7, (AP) + 3 * rs_a, ODD)                                             \
        LN_UK_ROW(4, c8, c9, (AP) + 4 * rs_a, ODD)                                             \
        LN_UK_ROW(5, c10, c11, (AP) + 5 * rs_a, ODD)                                           \
    } while (0)

/* Row I of the tile: scale by alpha, merge beta*C (C unread when beta == 0),
 * apply a cheap epilogue in registers, store; only nl columns of the last
 * vector when PART. */
#define LN_UK_LAST(P) (PART ? v_load_part(P, nl) : v_loadu(P))
#define LN_UK_STORE(I, X0, X1)                                                                 \
    if (MRV > I) {                                                                             \
        T *cr_ = c + I * rs_c;                                                                 \
        X0 = v_mul(va, X0);                                                                    \
        if (NV > 1) X1 = v_mul(va, X1);                                                        \
        if (bnz) {                                                                             \
            if (NV == 1) X0 = v_fma(vb, LN_UK_LAST(cr_), X0);                                  \
            else {                                                                             \
                X0 = v_fma(vb, v_loadu(cr_), X0);                                              \
                X1 = v_fma(vb, LN_UK_LAST(cr_ + VN), X1);                                      \
            }                                                                                  \
        }                                                                                      \
        if (fast == LN_FAST_BIAS_ACT) {                                                \
            if (aux->bias) { X0 = v_add(X0, vbias0); if (NV > 1) X1 = v_add(X1, vbias1); }     \
            X0 = FN(ln_cheap_act)(aux->act, X0);                                       \
            if (NV > 1) X1 = FN(ln_cheap_act)(aux->act, X1);                           \
        } else if (fast == LN_FAST_DACT) {                                             \
            const T *hr_ = aux->sv + I * aux->ldsv;                                            \
            X0 = v_mul(X0, FN(ln_cheap_dact)(aux->act, NV == 1 ? LN_UK_LAST(hr_) : v_loadu(hr_))); \
            if (NV > 1) X1 = v_mul(X1, FN(ln_cheap_dact)(aux->act, LN_UK_LAST(hr_ + VN)));         \
        }                                                                                      \
        if (NV == 1) {                                                                         \
            if (PART) v_store_part(cr_, X0, nl); else v_storeu(cr_, X0);                       \
        } else {                                                                               \
            v_storeu(cr_, X0);                                                                 \
            if (PART) v_store_part(cr_ + VN, X1, nl); else v_storeu(cr_ + VN, X1);             \
        }                                                                                      \
    }

/* The kernel for MRV rows and NV vectors per row. PART: 0 full vectors;
 * 1 the last vector holds nl columns of C but B is zero-padded; 2 B must be
 * read bounded too. PACKED fixes the packed strides (rs_a 1, cs_a 6,
 * rs_b 2*VN) so every address is a constant offset. */
LN_VINLINE void FN(ln_generic_body)(const int MRV, const int NV, const int PART, const int PACKED,
                                    ptrdiff_t k, ptrdiff_t nr, const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                    const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux)
{
    V c0 = v_zero(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    V c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    const ptrdiff_t nl = nr - VN * (NV - 1);   /* columns in the last vector */
    V va, vb, vbias0 = v_zero(), vbias1 = v_zero();
    int bnz, fast;
    ptrdiff_t p;
    if (PACKED) {
        rs_a = 1; cs_a = LN_MR; rs_b = LN_NR;
        /* Fetch the C tile while the k loop runs: it is needed right after */
        for (p = 0; p < LN_MR; ++p) {
            LN_PREFETCH(c + p * rs_c);
            LN_PREFETCH(c + p * rs_c + LN_NR - 1);
        }
    }
    /* Loop over k: rank-1 updates of the register tile. Two vectors per row
     * take one step per iteration: a second step in the same iteration lets
     * the compiler load both steps' operands up front, which spills
     * accumulators on 16 registers. One vector per row takes two, the odd
     * one into the spare accumulators. */
    p = 0;
    if (NV == 1)
        for (; p + 2 <= k; p += 2) {
            LN_UK_STEP(a, b, 0); a += cs_a; b += rs_b;
            LN_UK_STEP(a, b, 1); a += cs_a; b += rs_b;
        }
    for (; p < k; ++p) {
        if (PACKED) LN_PREFETCH(a + 8 * LN_MR);
        LN_UK_STEP(a, b, 0); a += cs_a; b += rs_b;
    }
    /* One vector per row: fold the odd steps' accumulators back */
    if (NV == 1) {
        c0 = v_add(c0, c1); c2 = v_add(c2, c3); c4 = v_add(c4, c5);
        c6 = v_add(c6, c7); c8 = v_add(c8, c9); c10 = v_add(c10, c11);
    }
    va = v_set1(aux->alpha);
    vb = v_set1(aux->beta);
    bnz = aux->beta != 0;
    fast = FN(ln_fast_epilogue)(aux);
    if (fast == LN_FAST_BIAS_ACT && aux->bias) {
        vbias0 = NV == 1 ? LN_UK_LAST(aux->bias) : v_loadu(aux->bias);
        if (NV > 1) vbias1 = LN_UK_LAST(aux->bias + VN);
    }
    LN_UK_STORE(0, c0, c1)
    LN_UK_STORE(1, c2, c3)
    LN_UK_STORE(2, c4, c5)
    LN_UK_STORE(3, c6, c7)
    LN_UK_STORE(4, c8, c9)
    LN_UK_STORE(5, c10, c11)
    if (aux->epi != LN_EPI_NONE && !fast) KFN(ln_epi)(MRV, nr, c, rs_c, aux);
}

/* Case label for (rows, vectors, edge kind) -> one specialised body. */
#define LN_UK_CALL(R, NVV, PRT) \
    FN(ln_generic_body)(R, NVV, PRT, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux)
#define LN_UK_CASE(R)                                                                          \
    case R * 8 + 0: LN_UK_CALL(R, 1, 0); break;                                                \
    case R * 8 + 1: LN_UK_CALL(R, 1, 1); break;                                                \
    case R * 8 + 2: LN_UK_CALL(R, 1, 2); break;                                                \
    case R * 8 + 4: LN_UK_CALL(R, 2, 0); break;                                                \
    case R * 8 + 5: LN_UK_CALL(R, 2, 1); break;                                                \
    case R * 8 + 6: LN_UK_CALL(R, 2, 2); break;

LN_VFUNC void KFN(ln_ukr)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr, const T *a, ptrdiff_t rs_a,
                          ptrdiff_t cs_a, const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c,
                          const FN(ln_aux) *aux)
{
    int nv, part;
    if (mr <= 0 || nr <= 0) return;
    /* Full tile from packed panels: the hot path of large problems */
    if (mr == LN_MR && nr == LN_NR && rs_a == 1 && cs_a == LN_MR && rs_b == LN_NR) {
        FN(ln_generic_body)(LN_MR, 2, 0, 1, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux);
        return;
    }
    nv = nr > VN ? 2 : 1;
    part = nr == VN * nv ? 0 : aux->b_padded ? 1 : 2;
    switch (mr * 8 + (nv - 1) * 4 + part) {
        LN_UK_CASE(1) LN_UK_CASE(2) LN_UK_CASE(3) LN_UK_CASE(4) LN_UK_CASE(5) LN_UK_CASE(6)
    default: break;
    }
}

#include "kernels/pack_tmpl.h"

#undef LN_UK_CALL
#undef LN_UK_CASE
#undef LN_UK_BLOAD
#undef LN_UK_ROW
#undef LN_UK_STEP
#undef LN_UK_LAST
#undef LN_UK_STORE
#undef LN_MR
#undef LN_NR
