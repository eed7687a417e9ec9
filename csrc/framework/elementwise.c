/* elementwise.c: framework/elementwise_tmpl.h for float and double. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "layernet.h"
#include "framework/elementwise.h"
#include "kernels/kernels.h"
#include "framework/pool.h"

/* Elements from which the finiteness scan is split across threads (1 MiB
 * of float: a pass of tens of microseconds, against a few for a job). */
#define LN_NONFINITE_MT_ELEMS 262144

#define LN_TEMPLATE "framework/elementwise_tmpl.h"
#include "framework/typed.h"

ptrdiff_t ln_first_nonfinite(int dtype, ptrdiff_t size, const void *x)
{
    return dtype == LN_FLOAT32 ? ln_first_nonfinite_f32(size, (const float *)x)
                               : ln_first_nonfinite_f64(size, (const double *)x);
}
