"""Quantization-aware masked retraining: float shadow weights, parameters on their levels.

Retraining a quantized model in float and projecting onto the levels afterwards throws away much
of what retraining gained (about 9 accuracy points on LeNet-5 / Fashion-MNIST at 99.71% sparsity
and 3 bits). ``quantized_retrain`` trains the quantized weights themselves with the
straight-through estimator of BinaryConnect: the state keeps float *shadow* weights, the training
loop computes the gradient at the quantized parameters, the masked optimizer's step moves the
shadow, and the parameters become the shadow projected onto the levels. Steps too small to cross
to another level accumulate in the shadow instead of being rounded away.

The per-layer scale is frozen at ``init``: the best scale of the initial weights, which after
``hard_prune`` is exactly the scale it chose. Re-fitting it every step (``best_scale`` of the
shadow, as ``hard_prune`` does) was measured and rejected. The re-fitted scale follows
``max|shadow|`` on a discrete grid, so one large weight moving shifts every level of the layer at
once, and the steps accumulated in the shadow no longer refer to the grid they were taken on. It
also made retraining about 25% slower on LeNet-5. Measured, float = ``masked_retrain`` then
``hard_prune``; first the mean squared error of a linear regression (32x8 weights, inputs with
pairwise correlation 0.9, Adam 1e-2 with cosine decay, 300 steps, mean of 3 seeds):

  ===============  =====  ======  ======
  bits / sparsity  float  frozen  re-fit
  ===============  =====  ======  ======
  2 / 50%          9.67   1.67    8.60
  3 / 50%          3.55   0.74    2.33
  3 / 80%          2.53   2.33    2.67
  ===============  =====  ======  ======

then the validation accuracy of LeNet-5 / Fashion-MNIST after one-shot ``hard_prune`` of the
dense model, 3 bits, 150 steps of Adam 1e-3 with cosine decay: 70.2 / 74.0 / 71.6% at 98%
sparsity, 63.3 / 64.9 / 55.8% at 99%. (From a near-random start, 10% after one-shot pruning to
99.71%, float then re-projection recovered more, 38 / 32 / 33%; ADMM leaves the model far from
that regime.)

Exactness: ``params + updates`` is exactly the projection of the new shadow whenever ``params``
are on the levels, as ``hard_prune`` leaves them. Scales have 8 significant bits (see
``cadnn_jax._levels``), so the difference of two levels is exact in float32 for uniform levels
up to 16 bits and power-of-two levels up to 5; beyond those an update may miss by an ulp.

References:
  Courbariaux et al., "BinaryConnect: Training Deep Neural Networks with binary weights during
  propagations", NeurIPS 2015. Ren et al., "ADMM-NN: An Algorithm-Hardware Co-Design Framework
  of DNNs Using ADMM", ASPLOS 2019 (masked retraining of the quantized model).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import optax

from cadnn_jax._levels import best_scale, projection_levels
from cadnn_jax._masking import masked_retrain
from cadnn_jax._project import constraint_table
from cadnn_jax._specs import Constraint, Joint, PowerOfTwoLevels, UniformLevels
from cadnn_jax._tree import named_leaves, unflatten_like

# Jitted once for all instances: an eager best_scale compiles each of its primitives separately,
# and levels are an argument, so every level set of one size shares the compiled program.
_fit_scale = jax.jit(best_scale)


class QuantizedRetrainState(NamedTuple):
    """State of ``quantized_retrain``; ``shadow`` and ``scale`` are keyed by quantized leaves."""

    shadow: dict[str, jax.Array]  # float weights, shape and dtype of the leaf; 0 where masked
    scale: dict[str, jax.Array]  # scalar, the leaf's dtype promoted to >= f32: the level scale
    inner: optax.OptState  # state of masked_retrain(optimizer, masks)


def _level_spec(spec: Constraint) -> UniformLevels | PowerOfTwoLevels | None:
    if isinstance(spec, Joint):
        return spec.levels
    if isinstance(spec, (UniformLevels, PowerOfTwoLevels)):
        return spec
    return None


def quantized_retrain(
    optimizer: optax.GradientTransformation, masks: Any, constraints: Any
) -> optax.GradientTransformationExtraArgs:
    """Retrain a pruned and quantized model so that its weights stay exactly on their levels.

    Use it like ``masked_retrain``, after ``hard_prune`` and with a fresh optimizer::

        pruned, masks = cadnn_jax.hard_prune(params, constraints)
        tx = cadnn_jax.quantized_retrain(optax.adam(1e-3), masks, constraints)

    Args:
      optimizer: any optax optimizer, e.g. ``optax.adamw(1e-4, weight_decay=1e-4)``; it acts on
        the float shadow weights of quantized leaves (weight decay shrinks the shadow).
      masks: the masks from ``hard_prune``: a tree like ``params`` of 0/1 (or bool) arrays.
      constraints: the spec tree given to ``hard_prune``. Leaves under ``UniformLevels``,
        ``PowerOfTwoLevels`` or a ``Joint`` are quantized; all others get the plain
        ``masked_retrain`` update.

    Returns:
      A transform whose state is a ``QuantizedRetrainState``; ``update`` needs ``params``. On a
      quantized leaf it applies ``masked_retrain(optimizer, masks)``'s step to the shadow (so it
      stays exactly 0 where masked) and returns ``projection_levels(shadow, levels, scale) -
      params``; on any other leaf it returns ``masked_retrain``'s update unchanged.

    Raises:
      ValueError: ``masks`` is None, ``constraints`` does not match the masks' tree, or (at
        ``init``) the masks do not match ``params``.
    """
    inner = masked_retrain(optimizer, masks)
    # The masks have the structure and shapes of params, so they validate the spec tree.
    table = constraint_table(constraints, masks)
    levels = {p: lv for p, s in table.items() if (lv := _level_spec(s)) is not None}

    def init_fn(params: Any) -> QuantizedRetrainState:
        inner_state = inner.init(params)  # checks the masks against params
        w = named_leaves(params)
        shadow = {p: w[p] for p in levels}
        scale = {p: _fit_scale(shadow[p], levels[p].level_set()) for p in levels}
        return QuantizedRetrainState(shadow=shadow, scale=scale, inner=inner_state)

    def update_fn(
        updates: Any, state: QuantizedRetrainState, params: Any = None, **extra_args: Any
    ) -> tuple[Any, QuantizedRetrainState]:
        if params is None:
            raise ValueError("quantized_retrain: update needs the current parameters (params=...).")
        w = named_leaves(params)
        floats = unflatten_like(params, {**w, **state.shadow})
        steps, inner_state = inner.update(updates, state.inner, floats, **extra_args)
        steps = named_leaves(steps)
        # keep_masked made the step -shadow where masked, so the shadow lands on exactly 0 there.
        shadow = {p: state.shadow[p] + steps[p] for p in levels}
        on_levels = {
            p: projection_levels(shadow[p], levels[p].level_set(), state.scale[p]) for p in levels
        }
        out = {**steps, **{p: q - w[p] for p, q in on_levels.items()}}
        new_state = QuantizedRetrainState(shadow=shadow, scale=state.scale, inner=inner_state)
        return unflatten_like(updates, out), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
