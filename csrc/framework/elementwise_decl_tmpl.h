/* elementwise_decl_tmpl.h: prototypes of framework/elementwise_tmpl.h. */
void FN(ln_colsum)(ptrdiff_t n, ptrdiff_t m, const T *A, T *out);
ptrdiff_t FN(ln_first_nonfinite)(ptrdiff_t size, const T *x);
double FN(ln_norm2)(ptrdiff_t size, const T *x);
void FN(ln_times_dact)(ptrdiff_t n, ptrdiff_t m, T *x, int act, const T *saved);
