/* elementwise_tmpl.h: memory-bound passes the drivers share, for one
 * element type. They touch a bias, a batch or a parameter vector once, so
 * plain C99 that the compiler vectorises is enough; the heavy work is in
 * the GEMM. */

/* out[j] = sum_i A[i, j] for an n x m matrix. One column is summed with
 * eight running sums; wider matrices four rows at a time, so a store to
 * out[] waits on the one before it a quarter as often (the chain through
 * memory, not the additions, bounds a small batch). */
void FN(ln_colsum)(ptrdiff_t n, ptrdiff_t m, const T *LN_RESTRICT A, T *LN_RESTRICT out)
{
    ptrdiff_t i, j;
    if (m == 1) {
        T s[8] = { 0, 0, 0, 0, 0, 0, 0, 0 };
        int r;
        for (i = 0; i + 8 <= n; i += 8)
            for (r = 0; r < 8; r++) s[r] += A[i + r];
        for (; i < n; i++) s[0] += A[i];
        out[0] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
        return;
    }
    for (j = 0; j < m; j++) out[j] = 0;
    for (i = 0; i + 4 <= n; i += 4) {
        const T *r0 = A + i * m, *r1 = r0 + m, *r2 = r1 + m, *r3 = r2 + m;
        for (j = 0; j < m; j++) out[j] += (r0[j] + r1[j]) + (r2[j] + r3[j]);
    }
    for (; i < n; i++) {
        const T *row = A + i * m;
        for (j = 0; j < m; j++) out[j] += row[j];
    }
}

/* Index of the first inf or NaN among size elements, or -1. An integer test
 * on the exponent bits over blocks of 256 (it vectorises without
 * -ffast-math, where a float comparison reduction would not): all exponent
 * bits set is the one pattern that carries into the sign bit when the
 * exponent's lowest bit is added, so a block ORs those sums into 16
 * independent lanes and tests the sign bit once (a 128 x 784 float input
 * took 9 us, against 33 us comparing each element's exponent). Only a block
 * with a hit is searched element by element. */
static ptrdiff_t FN(first_nonfinite_serial)(ptrdiff_t size, const T *x)
{
#if LN_IS_F32
    typedef uint32_t bits_t;
    const bits_t mask = UINT32_C(0x7f800000), low = UINT32_C(0x00800000), sign = UINT32_C(0x80000000);
#else
    typedef uint64_t bits_t;
    const bits_t mask = UINT64_C(0x7ff0000000000000), low = UINT64_C(0x0010000000000000);
    const bits_t sign = UINT64_C(0x8000000000000000);
#endif
    enum { BLOCK = 256, LANES = 16 };
    ptrdiff_t i0, i;
    for (i0 = 0; i0 < size; i0 += BLOCK) {
        const ptrdiff_t end = size - i0 < BLOCK ? size : i0 + BLOCK;
        bits_t bad = 0;
        if (end - i0 == BLOCK) {
            bits_t lane[LANES] = {0};
            int j;
            for (i = i0; i < end; i += LANES)
                for (j = 0; j < LANES; j++) {
                    bits_t u;
                    memcpy(&u, &x[i + j], sizeof u);
                    lane[j] |= (u & mask) + low;
                }
            for (j = 0; j < LANES; j++) bad |= lane[j];
        } else {
            for (i = i0; i < end; i++) {
                bits_t u;
                memcpy(&u, &x[i], sizeof u);
                bad |= (u & mask) + low;
            }
        }
        if (bad & sign)
            for (i = i0; i < end; i++)
                if (!isfinite(x[i])) return i;
    }
    return -1;
}

/* The scan cut into items for the thread pool: each participant keeps the
 * lowest hit of the items it ran. */
typedef struct {
    const T *x;
    ln_cuts cuts;                /* items of whole 256-element blocks */
    ptrdiff_t first[LN_POOL_MAX_THREADS];
} FN(nonfinite_job);

static void FN(nonfinite_item)(void *ctx, ptrdiff_t i, int slot)
{
    FN(nonfinite_job) *g = (FN(nonfinite_job) *)ctx;
    const ptrdiff_t lo = ln_cut_at(&g->cuts, i), hi = ln_cut_at(&g->cuts, i + 1);
    const ptrdiff_t hit = FN(first_nonfinite_serial)(hi - lo, g->x + lo);
    if (hit >= 0 && (g->first[slot] < 0 || lo + hit < g->first[slot])) g->first[slot] = lo + hit;
}

/* The same on every thread once the input is big: on one core this pass
 * was about 7% of a batch-4096 predict of 784 inputs. */
ptrdiff_t FN(ln_first_nonfinite)(ptrdiff_t size, const T *x)
{
    const int nt = size >= LN_NONFINITE_MT_ELEMS ? ln_get_num_threads() : 1;
    FN(nonfinite_job) g;
    ptrdiff_t best = -1;
    int s;
    if (nt <= 1) return FN(first_nonfinite_serial)(size, x);
    g.x = x;
    g.cuts = ln_cuts_make(size, 256, LN_POOL_ITEMS_PER_THREAD * nt, nt, 0);
    for (s = 0; s < LN_POOL_MAX_THREADS; s++) g.first[s] = -1;
    ln_pool_run(nt, g.cuts.count, FN(nonfinite_item), &g);
    for (s = 0; s < LN_POOL_MAX_THREADS; s++)
        if (g.first[s] >= 0 && (best < 0 || g.first[s] < best)) best = g.first[s];
    return best;
}

/* sqrt(sum x^2) in double, without overflow for any finite input: the sum
 * runs unscaled, and only if it overflows is it redone scaled by max |x|. */
double FN(ln_norm2)(ptrdiff_t size, const T *x)
{
    double sum = 0.0, big = 0.0;
    ptrdiff_t i;
    for (i = 0; i < size; i++) sum += (double)x[i] * (double)x[i];
    if (isfinite(sum)) return sqrt(sum);
    for (i = 0; i < size; i++) {
        const double a = fabs((double)x[i]);
        if (a > big) big = a;
    }
    if (!isfinite(big) || big == 0) return big;
    sum = 0.0;
    for (i = 0; i < size; i++) {
        const double r = (double)x[i] / big;
        sum += r * r;
    }
    return big * sqrt(sum);
}

/* x (n x m, contiguous) *= act'(saved) element-wise, with the active
 * instruction set's epilogue; saved is act's kept tensor (H or Z). */
void FN(ln_times_dact)(ptrdiff_t n, ptrdiff_t m, T *x, int act, const T *saved)
{
    FN(ln_aux) aux;
    if (act == LN_ACT_identity) return;
    memset(&aux, 0, sizeof aux);
    aux.epi = LN_EPI_DACT;
    aux.act = act;
    aux.sv = saved;
    aux.ldsv = m;
    ln_isa_active()->TY.epi(n, m, x, m, &aux);
}
