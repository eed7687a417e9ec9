/* fast_epilogue_tmpl.h: the epilogues cheap enough for a micro-kernel to
 * apply to its accumulators before the store (bias with identity, ReLU or
 * leaky ReLU; the ReLU / leaky ReLU derivative), written once against the
 * op layer; included by each ISA's micro-kernel template. Every other
 * epilogue runs on the stored tile (KFN(ln_epi)). */
#ifndef LN_FAST_EPILOGUE_DEFINED
#define LN_FAST_EPILOGUE_DEFINED
enum { LN_FAST_NONE = 0, LN_FAST_BIAS_ACT = 1, LN_FAST_DACT = 2 };
#endif

/* Which fast epilogue aux asks for, or LN_FAST_NONE. */
LN_VINLINE int FN(ln_fast_epilogue)(const FN(ln_aux) *aux)
{
    const int cheap = aux->act == LN_ACT_relu || aux->act == LN_ACT_leaky_relu;
    if (aux->epi == LN_EPI_BIAS_ACT && !aux->zout && (cheap || aux->act == LN_ACT_identity))
        return LN_FAST_BIAS_ACT;
    if (aux->epi == LN_EPI_DACT && cheap) return LN_FAST_DACT;
    return LN_FAST_NONE;
}

/* act(x) or act'(h) for the cheap activations, in registers. */
LN_VINLINE V FN(ln_cheap_act)(int act, V x)
{
    if (act == LN_ACT_relu) return v_max(v_zero(), x);
    if (act == LN_ACT_leaky_relu) return v_select(v_gt(x, v_zero()), x, v_mul(v_set1((T)LN_LEAKY_SLOPE), x));
    return x;
}

LN_VINLINE V FN(ln_cheap_dact)(int act, V h)
{
    const V lo = act == LN_ACT_leaky_relu ? v_set1((T)LN_LEAKY_SLOPE) : v_zero();
    return v_select(v_gt(h, v_zero()), v_set1((T)1), lo);
}
