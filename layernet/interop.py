"""Networks from other frameworks: from_torch builds a layernet Network from
a PyTorch nn.Sequential of Linear layers and activations.

torch is imported inside from_torch only when needed (it inspects the
module's classes): importing layernet does not import it.
"""
from __future__ import annotations

import numpy as np

# torch activation class -> layernet activation name
_TORCH_ACTIVATIONS = {"ReLU": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh",
                      "LeakyReLU": "leaky_relu", "Softplus": "softplus", "SiLU": "silu",
                      "GELU": "gelu"}
_SUPPORTED = ("Linear, ReLU, Sigmoid, Tanh, LeakyReLU(0.01), Softplus(beta=1), SiLU, "
              "GELU(approximate='none'), Identity, Dropout, and a final Softmax or Sigmoid")
# torch's Softplus returns x itself above `threshold`; from 20 on, the two
# differ by less than exp(-20) = 2e-9 there, within float32's precision
_SOFTPLUS_MIN_THRESHOLD = 20.0


def _flatten(module, torch, prefix: str = "") -> list[tuple[str, object]]:
    """(index path, module) of a Sequential's leaves, nested Sequentials opened."""
    if type(module).forward is not torch.nn.Sequential.forward:
        raise TypeError(f"module{prefix and f'[{prefix}]'}: expected a torch.nn.Sequential, got "
                        f"{type(module).__name__}")
    leaves = []
    for name, child in module.named_children():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(child, torch.nn.Sequential):
            leaves.extend(_flatten(child, torch, path))
        else:
            leaves.append((path, child))
    return leaves


def _check_activation(where: str, child) -> None:
    kind = type(child).__name__
    if kind == "LeakyReLU" and child.negative_slope != 0.01:
        raise ValueError(f"{where}: LeakyReLU with negative_slope={child.negative_slope} is not "
                         f"supported; layernet's leaky_relu has slope 0.01")
    if kind == "Softplus" and (child.beta != 1 or child.threshold < _SOFTPLUS_MIN_THRESHOLD):
        raise ValueError(f"{where}: Softplus(beta={child.beta}, threshold={child.threshold}) is "
                         f"not supported; expected beta=1 and threshold >= "
                         f"{_SOFTPLUS_MIN_THRESHOLD:g} (layernet computes log(1 + e^x))")
    if kind == "GELU" and child.approximate != "none":
        raise ValueError(f"{where}: GELU(approximate={child.approximate!r}) is not supported; "
                         f"layernet's gelu is the exact erf form (approximate='none')")


def _linear_arrays(where: str, child, dtype) -> tuple[np.ndarray, np.ndarray]:
    W = child.weight.detach().cpu().numpy()
    if W.dtype != dtype:
        raise ValueError(f"{where}: Linear weight has dtype {W.dtype}, expected {np.dtype(dtype)} "
                         f"like the first Linear layer")
    B = np.zeros(W.shape[0], dtype=dtype)
    if child.bias is not None:
        B = child.bias.detach().cpu().numpy()
        if B.dtype != dtype:
            raise ValueError(f"{where}: Linear bias has dtype {B.dtype}, expected "
                             f"{np.dtype(dtype)}")
    if not (np.isfinite(W).all() and np.isfinite(B).all()):
        raise ValueError(f"{where}: Linear holds inf or nan")
    return W.T, B


def from_torch(module, loss=None, dropout: str = "keep"):
    """The layernet Network that computes what `module` computes.

    module: a torch.nn.Sequential (nested ones are opened) of Linear layers,
    each followed by at most one activation (ReLU, Sigmoid, Tanh,
    LeakyReLU(0.01), Softplus(beta=1), SiLU, GELU(approximate='none')), with
    Identity and Dropout anywhere, and an optional final Softmax (over the
    last dimension) or Sigmoid. Parameters must all be float32 or float64;
    the network gets that dtype.

    loss: None picks it from the module's end: a final Softmax makes it
    cross_entropy and a final Sigmoid binary_cross_entropy (predict_proba
    then equals the module's output, predict gives the logits before it);
    otherwise "mse" (predict equals the module's output). A loss name or
    object is used as given: with a loss whose output transform is not the
    sigmoid, a final Sigmoid is the last layer's activation instead.

    dropout: "keep" (each Dropout becomes ln.Dropout with its p, the
    identity in predict) or "drop".

    Unsupported modules raise ValueError naming the layer's index and type.
    """
    import torch

    from .layers import Dense, Dropout
    from .losses import get_loss
    from .network import Network
    from .onnx import loss_for_transform, output_transform

    if dropout not in ("keep", "drop"):
        raise ValueError(f"dropout: expected 'keep' or 'drop', got {dropout!r}")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module: expected a torch.nn.Sequential, got {type(module).__name__}")
    leaves = _flatten(module, torch)
    chosen = None if loss is None else get_loss(loss)
    sigmoid_is_transform = chosen is None or output_transform(chosen) == "sigmoid"

    # The last non-Identity, non-Dropout module may be the loss's output transform
    passive = (torch.nn.Identity, torch.nn.Dropout)
    significant = [i for i, (_, child) in enumerate(leaves) if type(child) not in passive]
    transform = None
    if significant:
        last = leaves[significant[-1]][1]
        if type(last) is torch.nn.Softmax:
            transform = "softmax"
        elif type(last) is torch.nn.Sigmoid and sigmoid_is_transform:
            transform = "sigmoid"
    if transform is not None:
        trailing = [where for where, child in leaves[significant[-1]:]
                    if type(child) is torch.nn.Dropout]
        if trailing and dropout == "keep":
            raise ValueError(f"layer {trailing[0]} (Dropout): comes after the final "
                             f"{type(last).__name__}, which layernet applies as the loss's output "
                             f"transform; move it before, or pass dropout='drop'")
        if chosen is not None and output_transform(chosen) != transform:
            raise ValueError(f"loss: the module ends with {type(last).__name__}, which needs a loss "
                             f"with that output transform, got {chosen.name!r}")

    specs, dtype = [], None   # per layer: ["dense", W, B, activation] or ["dropout", p]
    for position, (where, child) in enumerate(leaves):
        kind = type(child).__name__
        label = f"layer {where} ({kind})"
        open_dense = bool(specs) and specs[-1][0] == "dense" and specs[-1][3] is None
        if transform is not None and position == significant[-1]:
            if kind == "Softmax" and child.dim not in (None, -1, 1):
                raise ValueError(f"{label}: a final Softmax must be over the last dimension "
                                 f"(dim=-1 or 1), got dim={child.dim}")
            break
        if type(child) is torch.nn.Linear:
            if dtype is None:
                if child.weight.dtype not in (torch.float32, torch.float64):
                    raise ValueError(f"{label}: parameters of dtype {child.weight.dtype} are not "
                                     f"supported; expected torch.float32 or torch.float64")
                dtype = np.float32 if child.weight.dtype == torch.float32 else np.float64
            W, B = _linear_arrays(label, child, dtype)
            width = next((spec[1].shape[1] for spec in reversed(specs) if spec[0] == "dense"), None)
            if width is not None and width != W.shape[0]:
                raise ValueError(f"{label}: takes {W.shape[0]} inputs, the layer before it gives "
                                 f"{width}")
            specs.append(["dense", W, B, None])
        elif kind in _TORCH_ACTIVATIONS and type(child) is getattr(torch.nn, kind):
            if not open_dense:
                raise ValueError(f"{label}: an activation must directly follow a Linear layer "
                                 f"(a layernet Dense layer carries one activation)")
            _check_activation(label, child)
            specs[-1][3] = _TORCH_ACTIVATIONS[kind]
        elif type(child) is torch.nn.Identity:
            continue
        elif type(child) is torch.nn.Dropout:
            if dropout == "drop":
                continue
            following = next((c for _, c in leaves[position + 1:] if type(c) not in passive),
                             None)
            if open_dense and type(following).__name__ in _TORCH_ACTIVATIONS and \
                    not (transform is not None and following is leaves[significant[-1]][1]):
                raise ValueError(f"{label}: comes between a Linear layer and its activation; "
                                 f"layernet applies dropout after the activation: move it, or "
                                 f"pass dropout='drop'")
            if not specs:
                raise ValueError(f"{label}: a Dropout cannot come first in a layernet network; "
                                 f"remove it, or pass dropout='drop'")
            specs.append(["dropout", float(child.p)])
        else:
            raise ValueError(f"{label}: not supported; supported: {_SUPPORTED}")
    if dtype is None:
        raise ValueError("module: expected at least one Linear layer, found none")
    if chosen is None:
        chosen = loss_for_transform(transform) if transform is not None else get_loss("mse")
    layers = [Dense(spec[1].shape[0], spec[1].shape[1], spec[3]) if spec[0] == "dense"
              else Dropout(spec[1]) for spec in specs]
    net = Network(layers, dtype=dtype, loss=chosen)
    for layer, spec in zip(net.layers, specs):
        if spec[0] == "dense":
            layer.W, layer.B = spec[1], spec[2]
    return net
