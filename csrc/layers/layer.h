/* layer.h: the interface every layer kind implements, and the list of kinds.
 *
 * A network is a sequence of nodes; each node is one layer of some kind.
 * The drivers (framework/net.c) walk the nodes through this interface and
 * know nothing of any kind in particular. A kind lives in its own file under
 * layers/ and brings:
 *   setup     checks a node spec and fills the node's shape, activation, and
 *             the sizes of its parameter tensors (trained, in the flat
 *             parameter vector) and constants (not trained)
 *   forward   y = f(x) for n rows (train-time behaviour when a->training);
 *             keeps Z in a->z when the node's activation needs it
 *   backward  from dL/dZ of its output: its parameters' gradients, and
 *             dL/dx times the derivative of the node that produced x
 * and one line in LN_LAYER_KINDS below.
 */
#ifndef LN_LAYER_H
#define LN_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "layernet.h"

#define LN_NODE_MAX_TENSORS 4

typedef struct ln_layer_kind ln_layer_kind;

typedef struct {
    const ln_layer_kind *kind;
    int index;                   /* position in the network (keys its random numbers) */
    ptrdiff_t n_in, n_out;
    int act;                     /* output activation (identity for kinds without one) */
    int keeps_z;                 /* the forward keeps Z for the backward */
    double rate;                 /* Dropout */
    int n_tensors;               /* trained tensors, in the flat parameter vector */
    ptrdiff_t tensor_size[LN_NODE_MAX_TENSORS];
    ptrdiff_t tensor_offset[LN_NODE_MAX_TENSORS];
    int n_consts;                /* constant tensors, in the flat constant vector */
    ptrdiff_t const_size[LN_NODE_MAX_TENSORS];
    ptrdiff_t const_offset[LN_NODE_MAX_TENSORS];
    void *param[LN_NODE_MAX_TENSORS];        /* bound by ln_net_bind */
    const void *cnst[LN_NODE_MAX_TENSORS];
} ln_node;

/* Arguments of one forward pass through one node. */
typedef struct {
    ptrdiff_t n;                 /* rows */
    const void *x;               /* n x n_in */
    void *y;                     /* n x n_out */
    void *z;                     /* n x n_out, where Z is kept (keeps_z), else NULL */
    int training;
    uint64_t seed;               /* train-time randomness: (seed, node, step, element) */
    long long step;
} ln_fwd;

/* Arguments of one backward pass through one node. */
typedef struct {
    ptrdiff_t n;
    const void *x, *y, *z;       /* the forward's input, output and kept Z */
    void *dz;                    /* n x n_out: dL/dZ (the node's own derivative applied) */
    void *grad;                  /* the flat gradient vector (tensors at tensor_offset) */
    void *dx;                    /* n x n_in: dL/dx times the producer's derivative; NULL: skip */
    int dx_act;                  /* the producer's activation */
    const void *dx_saved;        /* its kept tensor: its output, or its Z (needs_z) */
    int training;                /* the forward ran in training mode */
    uint64_t seed;
    long long step;
} ln_bwd;

typedef struct {
    int (*forward)(const ln_node *node, const ln_fwd *a);
    int (*backward)(const ln_node *node, const ln_bwd *a);
} ln_layer_ops;

struct ln_layer_kind {
    const char *name;
    int (*setup)(ln_node *node, const ln_node_spec *spec);
    int identity_in_inference;   /* forward is y = x outside training: the driver skips it */
    ln_layer_ops f32, f64;
};

/* The kinds, in the order of their indices. */
extern const ln_layer_kind ln_layer_dense;
extern const ln_layer_kind ln_layer_dropout;
extern const ln_layer_kind ln_layer_standardize;

#define LN_LAYER_KINDS      \
    &ln_layer_dense,        \
    &ln_layer_dropout,      \
    &ln_layer_standardize

const ln_layer_kind *ln_layer_kind_at(int kind);

#endif /* LN_LAYER_H */
