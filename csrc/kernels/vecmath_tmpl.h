/* vecmath_tmpl.h: vector math and the vector form of every activation,
 * written once against an op layer (see kernels/ref/vec_ref.h) and
 * instantiated by each instruction set, per element type.
 *
 * Accuracy: exp and expm1 use a Taylor polynomial after reducing by ln 2
 * (float to r^7, next term < 6e-9; double to r^13, next term < 5e-18);
 * log1p uses the atanh series of (m-1)/(m+1) with m in [1/sqrt2, sqrt2]
 * (|s| <= 0.1716; float to s^11, double to s^23). erfc goes lane by lane
 * through libm. The results match the libm references in
 * tables/activations.c to a few units in the last place (csrc/tests).
 *
 * Requires: an op layer included for this pass, and tables/activations.h.
 */

/* x = n ln2 + r with |r| <= ln2/2; returns expm1(r) and n. ln 2 is split in
 * two, its high part with enough trailing zero bits (16 significant bits in
 * float, 32 in double) that n * ln2_hi is exact for every n the callers see,
 * so r keeps full precision even where the multiply-add is not fused. */
LN_VINLINE V FN(v_expm1_reduced)(V x, V *n)
{
#if LN_IS_F32
    const V ln2_hi = v_set1(0.693145751953125f), ln2_lo = v_set1(1.4286068203094173e-06f);
    static const T c[] = { 1.0f / 5040, 1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f };
#else
    const V ln2_hi = v_set1(0.6931471803691238), ln2_lo = v_set1(1.9082149292705877e-10);
    static const T c[] = { 1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0,
                           1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0, 1.0 / 120.0,
                           1.0 / 24.0, 1.0 / 6.0, 0.5 };
#endif
    V r, q;
    unsigned i;
    *n = v_round(v_mul(x, v_set1((T)1.44269504088896340736)));
    r = v_fnma(*n, ln2_hi, x);
    r = v_fnma(*n, ln2_lo, r);
    /* Horner from the highest power: r + r^2 (1/2 + r (1/6 + ...)) */
    q = v_set1(c[0]);
    for (i = 1; i < sizeof c / sizeof c[0]; ++i) q = v_fma(q, r, v_set1(c[i]));
    return v_fma(v_mul(r, r), q, r);
}

/* exp(x) for x <= 0 (NaN passes through). 2^n is applied in two halves so
 * results in the subnormal range underflow gradually instead of wrapping. */
LN_VINLINE V FN(v_exp_neg)(V x)
{
    V n, p, n1;
    x = v_max(v_set1(LN_IS_F32 ? (T)-104 : (T)-746), x);
    p = v_add(FN(v_expm1_reduced)(x, &n), v_set1((T)1));
    n1 = v_round(v_mul(n, v_set1((T)0.5)));
    return v_mul(v_mul(p, v_pow2i(n1)), v_pow2i(v_sub(n, n1)));
}

/* expm1(x) for x <= 0, relative to the result near 0: with s = 2^n,
 * expm1(x) = s expm1(r) + (s - 1), and s = 1 for |x| < ln2/2. Arguments
 * below lo are clamped (expm1 is -1 there to the type's precision). */
LN_VINLINE V FN(v_expm1_neg)(V x, T lo)
{
    V n, p, s;
    x = v_max(v_set1(lo), x);
    p = FN(v_expm1_reduced)(x, &n);
    s = v_pow2i(n);
    return v_fma(s, p, v_sub(s, v_set1((T)1)));
}

/* log(1 + u) for 0 <= u <= 1. With w = 1 + u = 2^k m, m in [1/sqrt2, sqrt2]:
 * log w = k ln2 + 2 atanh((m-1)/(m+1)), and (u - (w - 1)) / w restores what
 * rounding w lost. */
LN_VINLINE V FN(v_log1p_unit)(V u)
{
#if LN_IS_F32
    static const T c[] = { 1.0f / 11, 1.0f / 9, 1.0f / 7, 1.0f / 5, 1.0f / 3, 1.0f };
#else
    static const T c[] = { 1.0 / 23, 1.0 / 21, 1.0 / 19, 1.0 / 17, 1.0 / 15, 1.0 / 13,
                           1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3, 1.0 };
#endif
    const V one = v_set1((T)1);
    V w = v_add(one, u);
    VM big = v_gt(w, v_set1((T)1.41421356237309504880));
    V m = v_select(big, v_mul(w, v_set1((T)0.5)), w);
    V k = v_select(big, one, v_zero());
    V s = v_div(v_sub(m, one), v_add(m, one));
    V s2 = v_mul(s, s), q = v_set1(c[0]);
    unsigned i;
    for (i = 1; i < sizeof c / sizeof c[0]; ++i) q = v_fma(q, s2, v_set1(c[i]));
    q = v_mul(v_add(s, s), q);
    q = v_fma(k, v_set1((T)0.69314718055994530942), q);
    return v_add(q, v_div(v_sub(u, v_sub(w, one)), w));
}

/* erfc lane by lane through libm. */
LN_VINLINE V FN(v_erfc)(V x)
{
    T t[VN];
    int i;
    v_storeu(t, x);
    for (i = 0; i < VN; ++i) t[i] = T_ERFC(t[i]);
    return v_loadu(t);
}

/* sigmoid(x) = 1/(1+e) for x >= 0 and e/(1+e) below, e = exp(-|x|): never overflows. */
LN_VINLINE V FN(v_sigmoid)(V x)
{
    const V one = v_set1((T)1);
    V e = FN(v_exp_neg)(v_negabs(x));
    return v_div(v_select(v_lt(x, v_zero()), e, one), v_add(one, e));
}

/* Standard normal CDF, Phi(z) = erfc(-z / sqrt 2) / 2: the same as
 * (1 + erf(z / sqrt 2)) / 2, without its cancellation in the lower tail */
LN_VINLINE V FN(v_phi)(V z)
{
    return v_mul(v_set1((T)0.5), FN(v_erfc)(v_mul(z, v_set1((T)-0.70710678118654752440))));
}

/* ------------------------------------------------------------------ */
/* Activations: vact_<id>(z) and vdact_<id>(s), s = H or Z (needs_z)   */
/* ------------------------------------------------------------------ */

LN_VINLINE V FN(vact_identity)(V z) { return z; }
LN_VINLINE V FN(vdact_identity)(V h) { (void)h; return v_set1((T)1); }

LN_VINLINE V FN(vact_sigmoid)(V z) { return FN(v_sigmoid)(z); }
LN_VINLINE V FN(vdact_sigmoid)(V h) { return v_mul(h, v_sub(v_set1((T)1), h)); }

LN_VINLINE V FN(vact_relu)(V z) { return v_max(v_zero(), z); }
LN_VINLINE V FN(vdact_relu)(V h) { return v_select(v_gt(h, v_zero()), v_set1((T)1), v_zero()); }

/* tanh|z| = -em / (2 + em), em = expm1(-2|z|); tanh is +-1 in T beyond the clamp */
LN_VINLINE V FN(vact_tanh)(V z)
{
    V em = FN(v_expm1_neg)(v_mul(v_set1((T)2), v_negabs(z)), LN_IS_F32 ? (T)-40 : (T)-80);
    V t = v_div(em, v_sub(v_set1((T)-2), em));
    return v_copysign(t, z);
}
LN_VINLINE V FN(vdact_tanh)(V h) { return v_fnma(h, h, v_set1((T)1)); }

LN_VINLINE V FN(vact_leaky_relu)(V z)
{
    return v_select(v_gt(z, v_zero()), z, v_mul(v_set1((T)LN_LEAKY_SLOPE), z));
}
LN_VINLINE V FN(vdact_leaky_relu)(V h)
{
    return v_select(v_gt(h, v_zero()), v_set1((T)1), v_set1((T)LN_LEAKY_SLOPE));
}

/* log(1 + e^z) = max(z, 0) + log1p(e^-|z|) */
LN_VINLINE V FN(vact_softplus)(V z)
{
    return v_add(v_max(v_zero(), z), FN(v_log1p_unit)(FN(v_exp_neg)(v_negabs(z))));
}
LN_VINLINE V FN(vdact_softplus)(V z) { return FN(v_sigmoid)(z); }

LN_VINLINE V FN(vact_silu)(V z) { return v_mul(z, FN(v_sigmoid)(z)); }
LN_VINLINE V FN(vdact_silu)(V z)
{
    V s = FN(v_sigmoid)(z);
    return v_mul(s, v_fma(z, v_sub(v_set1((T)1), s), v_set1((T)1)));
}

LN_VINLINE V FN(vact_gelu)(V z) { return v_mul(z, FN(v_phi)(z)); }
/* Phi(z) + z phi(z), phi(z) = exp(-z^2/2) / sqrt(2 pi) */
LN_VINLINE V FN(vdact_gelu)(V z)
{
    V pdf = v_mul(FN(v_exp_neg)(v_mul(v_set1((T)-0.5), v_mul(z, z))),
                  v_set1((T)0.39894228040143267794));
    return v_fma(z, pdf, FN(v_phi)(z));
}

/* By index: a switch that folds away when act is a compile-time constant
 * (the epilogue loops are specialised per activation). */
LN_VINLINE V FN(vact)(int act, V z)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return FN(vact_##id)(z);
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return z; }
#undef LN_CASE_
}

LN_VINLINE V FN(vdact)(int act, V s)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return FN(vdact_##id)(s);
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return v_set1((T)1); }
#undef LN_CASE_
}
