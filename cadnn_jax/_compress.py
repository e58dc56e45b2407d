"""Compression pipelines: ADMM (optionally progressive), and the magnitude baselines.

Each pipeline takes a trained model, runs its epochs on the training data and returns the
compressed model with its masks and a record of what happened. All three spend their epochs the
same way (``prune_epochs`` then ``retrain_epochs``), so they can be compared at equal budgets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from cadnn_jax._admm import admm, admm_residuals, find_admm_state
from cadnn_jax._distill import Distillation
from cadnn_jax._gradual import gradual_magnitude_prune
from cadnn_jax._masking import hard_prune, masked_retrain
from cadnn_jax._numbers import is_integer, is_real
from cadnn_jax._project import constraint_table
from cadnn_jax._quantized import quantized_retrain
from cadnn_jax._regrow import regrow_retrain, regrown_masks
from cadnn_jax._specs import Constraint, GlobalUnstructured, Joint, Unstructured
from cadnn_jax._train import evaluate, predict, train
from cadnn_jax._tree import named_leaves, nest_paths


@dataclasses.dataclass(frozen=True)
class Schedule:
    """How a pipeline spends its epochs.

    Attributes:
      prune_epochs: epochs of ADMM (split over the stages if progressive) or of gradual pruning.
      retrain_epochs: epochs of masked retraining (fine-tuning) afterwards.
      batch_size: minibatch size.
      lr: Adam learning rate while pruning.
      retrain_lr: peak learning rate of masked retraining (cosine decay to 0).
      rho: initial ADMM penalty.
      rho_growth: ADMM multi-rho factor per epoch (spread evenly over the epoch's rounds).
      rho_max: cap on rho.
      rounds_per_epoch: ADMM rounds (Z/U updates) per epoch.
      stages: progressive sparsities before the final one, e.g. (0.9, 0.95, 0.98); () = one stage.
      proportional_stages: how a stage's sparsity reaches each layer. False: every layer gets
        ``min(stage, its final sparsity)``. True: every layer keeps its final density scaled by
        ``(1 - stage) / (1 - overall final sparsity)`` (capped at dense), so each stage shrinks
        every layer by the same factor instead of leaving the largest step to the last stage.
      admm_optimizer: optimizer of the ADMM phase: "adam", or "sgd" (momentum 0.9), at ``lr``.
      distill_temperature: if > 0, every phase (pruning and retraining) distils from the model
        the pipeline started from (``Distillation``) at this temperature; 0 = labels only.
      distill_weight: the soft term's share of the distillation loss, in [0, 1].
      regrow_fraction: if > 0, masked retraining of a pruning-only run moves its masks as RigL
        does (``regrow_retrain``): every quarter epoch each pruned layer drops this share of
        its kept weights (decaying on a cosine to 0 at 3/4 of retraining) with the smallest
        magnitude and regrows as many with the largest gradient; 0 = fixed masks.
      seed: shuffling seed.
    """

    prune_epochs: int = 4
    retrain_epochs: int = 3
    batch_size: int = 128
    lr: float = 1e-3
    retrain_lr: float = 1e-3
    rho: float = 1e-2
    rho_growth: float = 1.5
    rho_max: float = 1.0
    rounds_per_epoch: int = 1
    stages: tuple[float, ...] = ()
    proportional_stages: bool = False
    admm_optimizer: str = "adam"
    distill_temperature: float = 0.0
    distill_weight: float = 0.9
    regrow_fraction: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("prune_epochs", "retrain_epochs", "batch_size", "rounds_per_epoch"):
            value = getattr(self, name)
            least = 1 if name in ("batch_size", "rounds_per_epoch") else 0
            if not is_integer(value) or value < least:
                raise ValueError(f"Schedule: {name} must be an integer >= {least}, got {value!r}.")
            object.__setattr__(self, name, int(value))
        if not is_integer(self.seed):
            raise ValueError(f"Schedule: seed must be an integer, got {self.seed!r}.")
        object.__setattr__(self, "seed", int(self.seed))
        reals = ("lr", "retrain_lr", "rho", "rho_growth", "rho_max", "distill_temperature")
        for name in (*reals, "distill_weight", "regrow_fraction"):
            # True would pass the range checks below as 1; a NumPy scalar is stored as a float.
            value = getattr(self, name)
            if not is_real(value):
                raise ValueError(f"Schedule: {name} must be a number, got {value!r}.")
            object.__setattr__(self, name, float(value))
        if not self.rho_growth >= 1:
            raise ValueError(f"Schedule: rho_growth must be >= 1, got {self.rho_growth!r}.")
        for name in ("lr", "retrain_lr", "rho", "rho_max"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Schedule: {name} must be > 0, got {getattr(self, name)!r}.")
        if any(not 0 <= s < 1 for s in self.stages) or list(self.stages) != sorted(self.stages):
            raise ValueError(
                f"Schedule: stages must be rising sparsities in [0, 1), got {self.stages!r}."
            )
        if not self.distill_temperature >= 0:
            raise ValueError(
                "Schedule: distill_temperature must be >= 0 (0 = no distillation), got "
                f"{self.distill_temperature!r}."
            )
        if not 0 <= self.distill_weight <= 1:
            raise ValueError(
                f"Schedule: distill_weight must be in [0, 1], got {self.distill_weight!r}."
            )
        if not 0 <= self.regrow_fraction < 1:
            raise ValueError(
                "Schedule: regrow_fraction must be in [0, 1) (0 = fixed masks), got "
                f"{self.regrow_fraction!r}."
            )
        if self.admm_optimizer not in ("adam", "sgd"):
            raise ValueError(
                f'Schedule: admm_optimizer must be "adam" or "sgd", got {self.admm_optimizer!r}.'
            )


@dataclasses.dataclass
class CompressResult:
    """What a pipeline produced: the model is compressed in place; these are its records."""

    masks: Any
    accuracy_before_retrain: float | None
    history: list[dict[str, Any]]


def _params(model: nnx.Module) -> nnx.State:
    return nnx.state(model, nnx.Param)


def _steps_per_epoch(n: int, batch_size: int) -> int:
    return max(1, n // batch_size)


def _distillation(model: nnx.Module, images: np.ndarray, schedule: Schedule) -> Distillation | None:
    """The dense model's logits to distil from, taken before pruning changes it (or None)."""
    if schedule.distill_temperature == 0:
        return None
    return Distillation(
        predict(model, images), schedule.distill_temperature, schedule.distill_weight
    )


def _has_sparsity(spec: Constraint) -> bool:
    return not isinstance(spec, Joint) and any(
        f.name == "sparsity" for f in dataclasses.fields(spec)
    )


def _with_sparsity(spec: Constraint, sparsity: float) -> Constraint:
    if _has_sparsity(spec):
        return dataclasses.replace(spec, sparsity=min(sparsity, spec.sparsity))
    return spec


def _stage_tables(
    table: dict[str, Constraint], params: Any, stages: tuple[float, ...], proportional: bool
) -> list[dict[str, Constraint]]:
    """The constraint table of each progressive stage (see ``Schedule.proportional_stages``)."""
    if not proportional:
        return [{p: _with_sparsity(s, stage) for p, s in table.items()} for stage in stages]
    sizes = {p: w.size for p, w in named_leaves(params).items()}
    pruned = [p for p, s in table.items() if _has_sparsity(s)]
    total = sum(sizes[p] for p in pruned)
    final_density = sum((1.0 - table[p].sparsity) * sizes[p] for p in pruned) / max(total, 1)
    out = []
    for stage in stages:
        factor = (1.0 - stage) / max(final_density, 1e-12)
        out.append(
            {
                p: _with_sparsity(s, 1.0 - min(1.0, (1.0 - s.sparsity) * factor))
                if _has_sparsity(s)
                else s
                for p, s in table.items()
            }
        )
    return out


def admm_compress(
    model: nnx.Module,
    constraints: Any,
    data: tuple[np.ndarray, np.ndarray],
    schedule: Schedule = Schedule(),
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    progress: bool = True,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> CompressResult:
    """ADMM (progressive if ``schedule.stages``), hard pruning, then masked retraining.

    If any constraint quantizes (``UniformLevels``, ``PowerOfTwoLevels`` or a ``Joint``), the
    retraining is ``quantized_retrain``: quantized layers train on their levels, with the scale
    ``hard_prune`` chose, and end there without a final, lossy re-projection.

    Args:
      model: a trained NNX model; it is compressed in place.
      constraints: a spec tree, as for ``admm``.
      data: ``(images, labels)`` to train on.
      schedule: epochs and hyperparameters.
      val: optional ``(images, labels)`` evaluated after each phase.
      progress: show progress bars.
      log: called with a record dict after each epoch and phase.

    Returns:
      A ``CompressResult``; the model's weights are exactly feasible when it returns.
    """
    table = constraint_table(constraints, _params(model))
    if schedule.regrow_fraction > 0:
        structured = sorted(
            p
            for p, spec in table.items()
            if not isinstance(spec, (Unstructured, GlobalUnstructured))
        )
        if structured:
            raise ValueError(
                "Schedule: regrow_fraction moves single weights, so it needs unstructured "
                f"constraints only; {structured[0]} has {type(table[structured[0]]).__name__}."
            )
    images, labels = data
    distill = _distillation(model, images, schedule)
    per_epoch = _steps_per_epoch(len(images), schedule.batch_size)
    history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        if log is not None:
            log(entry)

    stage_specs = [
        nest_paths(t)
        for t in _stage_tables(table, _params(model), schedule.stages, schedule.proportional_stages)
    ]
    stage_specs.append(nest_paths(dict(table)))
    epochs = _split(schedule.prune_epochs, len(stage_specs))
    masks, state = None, None
    for i, (specs, n_epochs) in enumerate(zip(stage_specs, epochs, strict=True)):
        if n_epochs == 0:
            continue
        # A later stage's warm start carries the previous stage's rho factor with its U, so
        # the rho schedule continues where it left off rather than restarting.
        rounds = min(schedule.rounds_per_epoch, per_epoch)
        tx_admm = admm(
            _params(model),
            specs,
            rho=schedule.rho,
            interval=max(1, per_epoch // rounds),
            rho_growth=schedule.rho_growth ** (1 / rounds),
            rho_max=schedule.rho_max,
            masks=masks,
            warm_start=state,
        )
        inner = (
            optax.sgd(schedule.lr, momentum=0.9)
            if schedule.admm_optimizer == "sgd"
            else optax.adam(schedule.lr)
        )
        tx = optax.chain(tx_admm, inner)
        if masks is not None:
            tx = masked_retrain(tx, masks)

        def on_epoch(
            epoch: int, metrics: dict[str, Any], optimizer: nnx.Optimizer, stage: int = i + 1
        ) -> None:
            res = admm_residuals(optimizer.opt_state)
            record({"phase": f"admm stage {stage}", "epoch": epoch, **metrics, "residuals": res})

        result = train(
            model,
            tx,
            images,
            labels,
            epochs=n_epochs,
            batch_size=schedule.batch_size,
            seed=schedule.seed + 100 * i,
            progress=progress,
            on_epoch=on_epoch,
            distill=distill,
        )
        state = find_admm_state(result.optimizer.opt_state)
        pruned, masks = hard_prune(_params(model), specs)
        nnx.update(model, pruned)

    if masks is None:
        pruned, masks = hard_prune(_params(model), constraints)
        nnx.update(model, pruned)
    before = evaluate(model, *val) if val is not None else None
    record({"phase": "hard prune", "val_accuracy": before})
    quantizes = any(not s.prunes or isinstance(s, Joint) for s in table.values())
    masks = _retrain(
        model,
        masks,
        data,
        schedule,
        progress,
        record,
        constraints if quantizes else None,
        distill=distill,
    )
    return CompressResult(masks=masks, accuracy_before_retrain=before, history=history)


def _retrain(
    model: nnx.Module,
    masks: Any,
    data: tuple[np.ndarray, np.ndarray],
    schedule: Schedule,
    progress: bool,
    record: Callable[[dict[str, Any]], None],
    constraints: Any = None,
    *,
    distill: Distillation | None = None,
) -> Any:
    """Masked retraining; quantization-aware on the leaves ``constraints`` quantizes, if given,
    else with moving masks if ``schedule.regrow_fraction``. Returns the final masks."""
    if schedule.retrain_epochs == 0:
        return masks
    images, labels = data
    per_epoch = _steps_per_epoch(len(images), schedule.batch_size)
    steps = schedule.retrain_epochs * per_epoch
    lr = optax.cosine_decay_schedule(schedule.retrain_lr, steps)
    if constraints is not None:
        tx = quantized_retrain(optax.adam(lr), masks, constraints)
    elif schedule.regrow_fraction > 0:
        tx = regrow_retrain(
            optax.adam(lr),
            masks,
            fraction=schedule.regrow_fraction,
            every=max(1, per_epoch // 4),
            end_step=max(1, int(0.75 * steps)),
        )
    else:
        tx = masked_retrain(optax.adam(lr), masks)
    result = train(
        model,
        tx,
        images,
        labels,
        epochs=schedule.retrain_epochs,
        batch_size=schedule.batch_size,
        seed=schedule.seed + 7,
        progress=progress,
        on_epoch=lambda e, m, o: record({"phase": "retrain", "epoch": e, **m}),
        distill=distill,
    )
    return regrown_masks(result.optimizer.opt_state, masks)


def magnitude_compress(
    model: nnx.Module,
    sparsity: Any,
    data: tuple[np.ndarray, np.ndarray],
    schedule: Schedule = Schedule(),
    *,
    gradual: bool = True,
    progress: bool = True,
    log: Callable[[dict[str, Any]], None] | None = None,
) -> CompressResult:
    """Magnitude pruning baselines at the same epoch budget as ``admm_compress``.

    Gradual (Zhu & Gupta): the cubic schedule runs over ``prune_epochs`` (reaching the final
    sparsity at 3/4 of them, as the paper leaves time to recover), then ``retrain_epochs`` of
    masked fine-tuning. One-shot (``gradual=False``): prune at once, then fine-tune for
    ``prune_epochs + retrain_epochs``.

    Args:
      model: a trained NNX model; pruned in place.
      sparsity: a float or a prefix tree of floats (None = leave alone), as for
        ``gradual_magnitude_prune``.
      data: ``(images, labels)``.
      schedule: epochs and learning rates (the rho fields are unused).
      gradual: gradual (default) or one-shot.
      progress: show progress bars.
      log: called with a record dict after each epoch.

    Returns:
      A ``CompressResult``.
    """
    history: list[dict[str, Any]] = []

    def record(entry: dict[str, Any]) -> None:
        history.append(entry)
        if log is not None:
            log(entry)

    images, labels = data
    distill = _distillation(model, images, schedule)
    specs = _sparsity_specs(sparsity, Unstructured)
    if not gradual:
        pruned, masks = hard_prune(_params(model), specs)
        nnx.update(model, pruned)
        total = dataclasses.replace(
            schedule, retrain_epochs=schedule.prune_epochs + schedule.retrain_epochs
        )
        masks = _retrain(model, masks, data, total, progress, record, distill=distill)
        return CompressResult(masks=masks, accuracy_before_retrain=None, history=history)

    per_epoch = _steps_per_epoch(len(images), schedule.batch_size)
    end = max(1, int(0.75 * schedule.prune_epochs * per_epoch))
    tx = optax.chain(
        optax.adam(schedule.lr),
        gradual_magnitude_prune(
            _params(model), sparsity, begin_step=0, end_step=end, frequency=max(1, per_epoch // 4)
        ),
    )
    train(
        model,
        tx,
        images,
        labels,
        epochs=schedule.prune_epochs,
        batch_size=schedule.batch_size,
        seed=schedule.seed,
        progress=progress,
        on_epoch=lambda e, m, o: record({"phase": "gradual prune", "epoch": e, **m}),
        distill=distill,
    )
    pruned, masks = hard_prune(_params(model), specs)
    nnx.update(model, pruned)
    masks = _retrain(model, masks, data, schedule, progress, record, distill=distill)
    return CompressResult(masks=masks, accuracy_before_retrain=None, history=history)


def _sparsity_specs(sparsity: Any, kind: type) -> Any:
    return jax.tree.map(lambda s: kind(s), sparsity, is_leaf=lambda x: isinstance(x, float))


def _split(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i >= parts - extra else 0) for i in range(parts)]
