/* activations.c: the scalar reference of every activation in
 * tables/activations.h, in double through libm. These are the oracle the
 * vector forms are tested against; no kernel calls them on a hot path.
 * Derivatives follow torch's definitions (relu' is 0 at 0, leaky_relu' is
 * the slope at 0). */
#include <math.h>

#include "layernet.h"
#include "activations.h"

static double ln_sigmoid(double z)
{
    /* Split by sign so exp never overflows. */
    if (z >= 0) return 1.0 / (1.0 + exp(-z));
    return exp(z) / (1.0 + exp(z));
}

double ln_act_ref_identity(double z) { return z; }
double ln_dact_ref_identity(double h) { (void)h; return 1.0; }

double ln_act_ref_sigmoid(double z) { return ln_sigmoid(z); }
double ln_dact_ref_sigmoid(double h) { return h * (1.0 - h); }

/* NaN passes through and -0 stays -0, as a vector max(0, x) does. */
double ln_act_ref_relu(double z) { return z < 0 ? 0.0 : z; }
double ln_dact_ref_relu(double h) { return h > 0 ? 1.0 : 0.0; }

double ln_act_ref_tanh(double z) { return tanh(z); }
double ln_dact_ref_tanh(double h) { return 1.0 - h * h; }

double ln_act_ref_leaky_relu(double z) { return z > 0 ? z : LN_LEAKY_SLOPE * z; }
double ln_dact_ref_leaky_relu(double h) { return h > 0 ? 1.0 : LN_LEAKY_SLOPE; }

/* log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow, full precision when small. */
double ln_act_ref_softplus(double z)
{
    if (isnan(z)) return z;
    return (z > 0 ? z : 0.0) + log1p(exp(-fabs(z)));
}
double ln_dact_ref_softplus(double z) { return ln_sigmoid(z); }

double ln_act_ref_silu(double z) { return z * ln_sigmoid(z); }
double ln_dact_ref_silu(double z)
{
    double s = ln_sigmoid(z);
    return s * (1.0 + z * (1.0 - s));
}

/* z * Phi(z) with the standard normal CDF Phi(z) = (1 + erf(z / sqrt 2)) / 2,
 * computed as erfc(-z / sqrt 2) / 2, which keeps its precision in the lower tail */
#define LN_SQRT1_2 0.70710678118654752440
#define LN_INV_SQRT_2PI 0.39894228040143267794
double ln_act_ref_gelu(double z) { return 0.5 * z * erfc(-z * LN_SQRT1_2); }
double ln_dact_ref_gelu(double z)
{
    return 0.5 * erfc(-z * LN_SQRT1_2) + z * LN_INV_SQRT_2PI * exp(-0.5 * z * z);
}

double ln_act_ref(int act, double z)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return ln_act_ref_##id(z);
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return NAN; }
#undef LN_CASE_
}

double ln_dact_ref(int act, double s)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return ln_dact_ref_##id(s);
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return NAN; }
#undef LN_CASE_
}

int ln_act_needs_z(int act)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return needs_z;
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return 0; }
#undef LN_CASE_
}

/* Public: names and count for Python (layernet.h). */
int ln_activation_count(void) { return LN_ACT_COUNT; }

const char *ln_activation_name(int act)
{
#define LN_CASE_(id, name, needs_z) case LN_ACT_##id: return name;
    switch (act) { LN_ACTIVATION_TABLE(LN_CASE_) default: return NULL; }
#undef LN_CASE_
}

int ln_activation_needs_z(int act) { return ln_act_needs_z(act); }
