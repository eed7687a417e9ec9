/* ops.c: element-wise kernels (losses, activation derivatives, column sums,
 * finiteness, optimizer updates) for float and double, and their public
 * dtype-dispatching entry points ln_loss and ln_optimizer_update. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "alloc.h"

#define T float
#define SFX f32
#define EXP expf
#define SQRT sqrtf
#define BITS_T uint32_t
#define FINITE_MASK UINT32_C(0x7f800000)
#include "ops_impl.h"
#undef T
#undef SFX
#undef EXP
#undef SQRT
#undef BITS_T
#undef FINITE_MASK

#define T double
#define SFX f64
#define EXP exp
#define SQRT sqrt
#define BITS_T uint64_t
#define FINITE_MASK UINT64_C(0x7ff0000000000000)
#include "ops_impl.h"
#undef T
#undef SFX
#undef EXP
#undef SQRT
#undef BITS_T
#undef FINITE_MASK

int ln_loss(int dtype, int kind, ptrdiff_t n, ptrdiff_t m,
            const void *H, const void *Y, void *grad, double *loss)
{
    if (n <= 0 || m <= 0 || kind < LN_LOSS_MSE_MEAN || kind > LN_LOSS_CROSS_ENTROPY)
        return LN_ERR_ARG;
    if (dtype == LN_FLOAT32)
        *loss = ln_loss_grad_f32(kind, LN_ACT_IDENTITY, n, m, (const float *)H,
                                 (const float *)Y, (float *)grad);
    else
        *loss = ln_loss_grad_f64(kind, LN_ACT_IDENTITY, n, m, (const double *)H,
                                 (const double *)Y, (double *)grad);
    return LN_OK;
}

int ln_optimizer_update(int dtype, const ln_optimizer *opt, long long t, ptrdiff_t size,
                        void *p, const void *g, void *state1, void *state2)
{
    if (t < 1 || size < 0) return LN_ERR_ARG;
    if (opt->kind == LN_OPT_ADAM && (state1 == NULL || state2 == NULL)) return LN_ERR_ARG;
    if (dtype == LN_FLOAT32)
        ln_opt_update_f32(opt, t, size, (float *)p, (const float *)g, (float *)state1,
                          (float *)state2);
    else
        ln_opt_update_f64(opt, t, size, (double *)p, (const double *)g, (double *)state1,
                          (double *)state2);
    return LN_OK;
}

/* The original pointer is stored just before the aligned block. */
void *ln_aligned_alloc(size_t bytes)
{
    const size_t align = 64;
    unsigned char *raw = (unsigned char *)ln_malloc(bytes + align + sizeof(void *));
    uintptr_t start;
    void **slot;
    if (raw == NULL) return NULL;
    start = ((uintptr_t)(raw + sizeof(void *)) + align - 1) & ~(uintptr_t)(align - 1);
    slot = (void **)start;
    slot[-1] = raw;
    return slot;
}

void ln_aligned_free(void *p)
{
    if (p != NULL) free(((void **)p)[-1]);
}
