/* activations.h: every activation layernet knows, one row each.
 *
 * A row is X(id, name, needs_z):
 *   id       the stem of its enum value (LN_ACT_<id>) and of its functions
 *   name     the name Python, the command line and model files use
 *   needs_z  0: the derivative comes from the output H alone, so only H is kept;
 *            1: the derivative needs the pre-activation Z, which the layer then keeps too
 *
 * Adding an activation is this row plus:
 *   - its scalar reference (the oracle), ln_act_ref_<id>(z) and ln_dact_ref_<id>(s),
 *     in tables/activations.c, where s is H or Z as needs_z says;
 *   - its vector forms vact_<id>(z) and vdact_<id>(s) in kernels/vecmath_tmpl.h,
 *     which every instruction set instantiates.
 * The enum, the names and the count below come from the table; Python reads
 * the names from C.
 */
#ifndef LN_TABLES_ACTIVATIONS_H
#define LN_TABLES_ACTIVATIONS_H

#define LN_ACTIVATION_TABLE(X)          \
    X(identity,   "identity",   0)      \
    X(sigmoid,    "sigmoid",    0)      \
    X(relu,       "relu",       0)      \
    X(tanh,       "tanh",       0)      \
    X(leaky_relu, "leaky_relu", 0)      \
    X(softplus,   "softplus",   1)      \
    X(silu,       "silu",       1)      \
    X(gelu,       "gelu",       1)

#define LN_ACT_ENUM_(id, name, needs_z) LN_ACT_##id,
enum { LN_ACTIVATION_TABLE(LN_ACT_ENUM_) LN_ACT_COUNT };
#undef LN_ACT_ENUM_

/* leaky_relu's slope for z < 0 (torch's default) */
#define LN_LEAKY_SLOPE 0.01

/* Scalar references, in double: f(z) and f' from the kept tensor s (H or Z). */
#define LN_ACT_DECLARE_(id, name, needs_z)  \
    double ln_act_ref_##id(double z);       \
    double ln_dact_ref_##id(double s);
LN_ACTIVATION_TABLE(LN_ACT_DECLARE_)
#undef LN_ACT_DECLARE_

/* By index; ln_act_ref / ln_dact_ref return NaN for an unknown index. */
double ln_act_ref(int act, double z);
double ln_dact_ref(int act, double s);
int ln_act_needs_z(int act);

#endif /* LN_TABLES_ACTIVATIONS_H */
