/* losses_decl_tmpl.h: the per-type loss interface (see tables/losses.h). */
typedef struct {
    ptrdiff_t n, m;        /* rows, outputs per row */
    const T *h;            /* n x m network outputs */
    const T *y;            /* n x m targets */
    const T *w;            /* n sample weights, or NULL for all 1 */
    double scale;          /* 1 / (total sample weight), or 1 for a sum */
    const double *param;   /* the loss's parameters (Huber's delta), or NULL */
    T *grad;               /* n x m dL/dH, or NULL */
} FN(ln_loss_args);

/* By index: the loss value (scaled), the gradient when asked. */
double FN(ln_loss_eval)(int kind, const FN(ln_loss_args) *a);
/* Right answers among rows (ARGMAX) or outputs (SIGN) for the running accuracy. */
ptrdiff_t FN(ln_loss_hits)(int kind, ptrdiff_t n, ptrdiff_t m, const T *h, const T *y);
