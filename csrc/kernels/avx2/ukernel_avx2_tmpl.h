/* ukernel_avx2_tmpl.h: the AVX2+FMA micro-kernel, 6 rows x 2 vectors
 * (s 6x16, d 6x8), for one element type.
 *
 * The tile lives in 12 of the 16 ymm registers (two hold B, one the A
 * broadcast). One always-inline body is specialised at compile time for the
 * rows it holds (1..6), the vectors per row (1 or 2) and how its last vector
 * is bounded, plus a packed full tile with constant strides; edge tiles do
 * only the work they need and never touch memory outside the tile. Bias,
 * identity / ReLU / leaky ReLU and their derivatives are applied to the
 * accumulators before the store; other epilogues run on the stored tile
 * (KFN(ln_epi)) while it is in L1. */
#define LN_MR LN_AVX2_MR
#define LN_NR (2 * VN)

/* Lane masks for B columns past nr: the window at 8 - n of ones-then-zeros
 * gives the first n lanes (maskload never reads the masked-off lanes). */
#if LN_IS_F32
static const int ln_avx2_mask_f32[16] = { -1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0 };
#define LN_BMASK(n) _mm256_loadu_si256((const __m256i *)(ln_avx2_mask_f32 + 8 - (n)))
#define LN_MASKLOAD(p, m) _mm256_maskload_ps(p, m)
#define LN_ASM_T "s"           /* mnemonic suffix: ss / ps */
#define LN_ASM_ES "4"          /* element size in bytes */
#define LN_ASM_PF "384"        /* A prefetch distance: four iterations ahead */
#else
static const long long ln_avx2_mask_f64[8] = { -1, -1, -1, -1, 0, 0, 0, 0 };
#define LN_BMASK(n) _mm256_loadu_si256((const __m256i *)(ln_avx2_mask_f64 + 4 - (n)))
#define LN_MASKLOAD(p, m) _mm256_maskload_pd(p, m)
#define LN_ASM_T "d"
#define LN_ASM_ES "8"
#define LN_ASM_PF "768"
#endif

#include "kernels/fast_epilogue_tmpl.h"

/* One k step: two B vectors, MRV broadcasts of A, up to 12 FMAs. Rows past
 * MRV and the second vector when NV == 1 compile away; with one vector per
 * row, odd steps go to the spare registers to hide the FMA latency. */
#define LN_UK_STEP(AP, A3, BP, ODD)                                                            \
    do {                                                                                       \
        V b0_, b1_ = v_zero(), a_;                                                             \
        if (NV == 1) b0_ = MASKB == 2 ? LN_MASKLOAD((BP), bm) : v_loadu(BP);                   \
        else {                                                                                 \
            b0_ = v_loadu(BP);                                                                 \
            b1_ = MASKB == 2 ? LN_MASKLOAD((BP) + VN, bm) : v_loadu((BP) + VN);                \
        }                                                                                      \
        a_ = v_bcast((AP));                                                                    \
        LN_UK_FMA(c0, c1, ODD);                                                                     \
        if (MRV > 1) { a_ = v_bcast((AP) + rs_a); LN_UK_FMA(c2, c3, ODD); }                         \
        if (MRV > 2) { a_ = v_bcast((AP) + 2 * rs_a); LN_UK_FMA(c4, c5, ODD); }                     \
        if (MRV > 3) { a_ = v_bcast((A3)); LN_UK_FMA(c6, c7, ODD); }                                \
        if (MRV > 4) { a_ = v_bcast((A3) + rs_a); LN_UK_FMA(c8, c9, ODD); }                         \
        if (MRV > 5) { a_ = v_bcast((A3) + 2 * rs_a); LN_UK_FMA(c10, c11, ODD); }                   \
    } while (0)
#define LN_UK_FMA(X0, X1, ODD)                                                                    \
    do {                                                                                       \
        if (NV == 1 && (ODD)) X1 = v_fma(a_, b0_, X1); else X0 = v_fma(a_, b0_, X0);           \
        if (NV > 1) X1 = v_fma(a_, b1_, X1);                                                   \
    } while (0)

/* Row I of the tile: scale by alpha, merge beta*C (C unread when beta == 0),
 * apply a cheap epilogue in registers, store; only nl columns of the last
 * vector when MASKB. */
#define LN_UK_STORE(I, X0, X1)                                                                 \
    if (MRV > I) {                                                                             \
        T *cr_ = c + I * rs_c;                                                                 \
        X0 = v_mul(va, X0);                                                                    \
        if (NV > 1) X1 = v_mul(va, X1);                                                        \
        if (bnz) {                                                                             \
            if (NV == 1) X0 = v_fma(vb, MASKB ? v_load_part(cr_, nl) : v_loadu(cr_), X0);       \
            else {                                                                             \
                X0 = v_fma(vb, v_loadu(cr_), X0);                                              \
                X1 = v_fma(vb, MASKB ? v_load_part(cr_ + VN, nl) : v_loadu(cr_ + VN), X1);      \
            }                                                                                  \
        }                                                                                      \
        if (fast == LN_FAST_BIAS_ACT) {                                                        \
            if (aux->bias) { X0 = v_add(X0, vbias0); if (NV > 1) X1 = v_add(X1, vbias1); }     \
            X0 = FN(ln_cheap_act)(aux->act, X0);                                          \
            if (NV > 1) X1 = FN(ln_cheap_act)(aux->act, X1);                              \
        } else if (fast == LN_FAST_DACT) {                                                     \
            const T *hr_ = aux->sv + I * aux->ldsv;                                            \
            X0 = v_mul(X0, FN(ln_cheap_dact)(aux->act,                                    \
                           NV == 1 && MASKB ? v_load_part(hr_, nl) : v_loadu(hr_)));            \
            if (NV > 1) X1 = v_mul(X1, FN(ln_cheap_dact)(aux->act,                        \
                           MASKB ? v_load_part(hr_ + VN, nl) : v_loadu(hr_ + VN)));             \
        }                                                                                      \
        if (NV == 1) {                                                                         \
            if (MASKB) v_store_part(cr_, X0, nl); else v_storeu(cr_, X0);                      \
        } else {                                                                               \
            v_storeu(cr_, X0);                                                                 \
            if (MASKB) v_store_part(cr_ + VN, X1, nl); else v_storeu(cr_ + VN, X1);            \
        }                                                                                      \
    }

/* One k step S of the packed full tile in assembly: A row I of step S is at
 * (S*6 + I) elements, B's two vectors at S*64 and S*64+32 bytes. */
#define LN_ASM_BCAST(S, I) \
    "vbroadcasts" LN_ASM_T " " #S "*6*" LN_ASM_ES "+" #I "*" LN_ASM_ES "(%[a]), %%ymm14\n\t"
#define LN_ASM_FMA(X0, X1) \
    "vfmadd231p" LN_ASM_T " %%ymm12, %%ymm14, %[" #X0 "]\n\t" \
    "vfmadd231p" LN_ASM_T " %%ymm13, %%ymm14, %[" #X1 "]\n\t"
#define LN_ASM_STEP(S) \
    "vmovups " #S "*64(%[b]), %%ymm12\n\t" \
    "vmovups " #S "*64+32(%[b]), %%ymm13\n\t" \
    LN_ASM_BCAST(S, 0) LN_ASM_FMA(c0, c1) \
    LN_ASM_BCAST(S, 1) LN_ASM_FMA(c2, c3) \
    LN_ASM_BCAST(S, 2) LN_ASM_FMA(c4, c5) \
    LN_ASM_BCAST(S, 3) LN_ASM_FMA(c6, c7) \
    LN_ASM_BCAST(S, 4) LN_ASM_FMA(c8, c9) \
    LN_ASM_BCAST(S, 5) LN_ASM_FMA(c10, c11)

/* The kernel for MRV rows and NV vectors per row. MASKB: 0 full vectors;
 * 1 the last vector holds nl columns of C but B is zero-padded; 2 B must be
 * read with masks too. PACKED fixes the packed strides (rs_a 1, cs_a 6,
 * rs_b 2*VN) so every address is an immediate offset. */
LN_VINLINE void FN(ln_avx2_body)(const int MRV, const int NV, const int MASKB, const int PACKED,
                                 ptrdiff_t k, ptrdiff_t nr, const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                                 const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux)
{
    V c0 = v_zero(), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
    V c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
    const ptrdiff_t nl = nr - VN * (NV - 1);   /* columns in the last vector */
    const __m256i bm = MASKB == 2 ? LN_BMASK(nl) : _mm256_setzero_si256();
    V va, vb, vbias0 = v_zero(), vbias1 = v_zero();
    const T *a3;
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
    /* Loop over k, four steps at a time: rank-1 updates of the register tile */
    p = 0;
#if defined(__x86_64__)
    /* Packed full tile: the k loop in assembly, four steps per iteration, so
     * the 12 accumulators, 2 B vectors and the broadcast stay in registers
     * (GCC spills here when it schedules across the unrolled steps). */
    if (PACKED && k >= 4) {
        ptrdiff_t n4 = k / 4;
        __asm__ volatile(
            "1:\n\t"
            "prefetcht0 " LN_ASM_PF "(%[a])\n\t"
            LN_ASM_STEP(0) LN_ASM_STEP(1) LN_ASM_STEP(2) LN_ASM_STEP(3)
            "addq $4*6*" LN_ASM_ES ", %[a]\n\t"
            "addq $256, %[b]\n\t"
            "decq %[n]\n\t"
            "jnz 1b\n\t"
            : [a] "+r"(a), [b] "+r"(b), [n] "+r"(n4),
              [c0] "+x"(c0), [c1] "+x"(c1), [c2] "+x"(c2), [c3] "+x"(c3),
              [c4] "+x"(c4), [c5] "+x"(c5), [c6] "+x"(c6), [c7] "+x"(c7),
              [c8] "+x"(c8), [c9] "+x"(c9), [c10] "+x"(c10), [c11] "+x"(c11)
            :
            : "xmm12", "xmm13", "xmm14", "memory", "cc");
        p = k & ~(ptrdiff_t)3;
    }
#endif
    /* Rows 3..5 hang off a second pointer so each broadcast is base + index */
    a3 = a + 3 * rs_a;
    for (; p + 4 <= k; p += 4) {
        if (PACKED) LN_PREFETCH(a + 16 * LN_MR);
        LN_UK_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_UK_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
        LN_UK_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
        LN_UK_STEP(a, a3, b, 1); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* Loop over the k remainder */
    for (; p < k; ++p) {
        LN_UK_STEP(a, a3, b, 0); a += cs_a; a3 += cs_a; b += rs_b;
    }
    /* One vector per row: fold the odd steps' registers back */
    if (NV == 1) {
        c0 = v_add(c0, c1); c2 = v_add(c2, c3); c4 = v_add(c4, c5);
        c6 = v_add(c6, c7); c8 = v_add(c8, c9); c10 = v_add(c10, c11);
    }
    va = v_set1(aux->alpha);
    vb = v_set1(aux->beta);
    bnz = aux->beta != 0;
    fast = FN(ln_fast_epilogue)(aux);
    if (fast == LN_FAST_BIAS_ACT && aux->bias) {
        vbias0 = NV == 1 && MASKB ? v_load_part(aux->bias, nl) : v_loadu(aux->bias);
        if (NV > 1) vbias1 = MASKB ? v_load_part(aux->bias + VN, nl) : v_loadu(aux->bias + VN);
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
#define LN_UK_CASE(R)                                                                          \
    case R * 8 + 0: FN(ln_avx2_body)(R, 1, 0, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 1: FN(ln_avx2_body)(R, 1, 1, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 2: FN(ln_avx2_body)(R, 1, 2, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 4: FN(ln_avx2_body)(R, 2, 0, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 5: FN(ln_avx2_body)(R, 2, 1, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break; \
    case R * 8 + 6: FN(ln_avx2_body)(R, 2, 2, 0, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux); break;

LN_VFUNC void KFN(ln_ukr)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr, const T *a, ptrdiff_t rs_a,
                          ptrdiff_t cs_a, const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c,
                          const FN(ln_aux) *aux)
{
    int nv, edge;
    /* Full tile from packed panels: the hot path of large problems */
    if (mr == LN_MR && nr == LN_NR && rs_a == 1 && cs_a == LN_MR && rs_b == LN_NR) {
        FN(ln_avx2_body)(LN_MR, 2, 0, 1, k, nr, a, rs_a, cs_a, b, rs_b, c, rs_c, aux);
        return;
    }
    nv = nr > VN ? 2 : 1;
    edge = nr == VN * nv ? 0 : aux->b_padded ? 1 : 2;
    switch (mr * 8 + (nv - 1) * 4 + edge) {
        LN_UK_CASE(1) LN_UK_CASE(2) LN_UK_CASE(3) LN_UK_CASE(4) LN_UK_CASE(5) LN_UK_CASE(6)
    default: break;
    }
}

#include "kernels/pack_tmpl.h"

#undef LN_UK_CASE
#undef LN_UK_STEP
#undef LN_UK_FMA
#undef LN_UK_STORE
#undef LN_ASM_BCAST
#undef LN_ASM_FMA
#undef LN_ASM_STEP
#undef LN_BMASK
#undef LN_MASKLOAD
#undef LN_ASM_T
#undef LN_ASM_ES
#undef LN_ASM_PF
#undef LN_MR
#undef LN_NR
