/* optimizers_decl_tmpl.h: the per-type optimizer interface (tables/optimizers.h). */
int FN(ln_opt_update)(const ln_optim *o, long long t, T gscale, ptrdiff_t n,
                      T *p, const T *g, T *const *s, int commit);
