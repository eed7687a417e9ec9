/* decl_tmpl.h: prototypes of the kernels an instruction set exports, named
 * by its KFN (defined before instantiating this template). Its table file
 * includes it to fill ln_isa. */
void KFN(ln_ukr)(ptrdiff_t k, ptrdiff_t mr, ptrdiff_t nr, const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                 const T *b, ptrdiff_t rs_b, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux);
void KFN(ln_epi)(ptrdiff_t m, ptrdiff_t n, T *c, ptrdiff_t rs_c, const FN(ln_aux) *aux);
void KFN(ln_gemv)(ptrdiff_t k, ptrdiff_t n, const T *a, ptrdiff_t cs_a,
                  const T *b, ptrdiff_t rs_b, T *c, const FN(ln_aux) *aux);
void KFN(ln_pack_a)(ptrdiff_t mc, ptrdiff_t kc, const T *a, ptrdiff_t rs_a, ptrdiff_t cs_a, T *ap);
void KFN(ln_pack_b)(ptrdiff_t kc, ptrdiff_t nc, const T *b, ptrdiff_t rs_b, ptrdiff_t cs_b, T *bp);
int KFN(ln_opt_update)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                       T *p, const T *g, T *const *s, int commit);
