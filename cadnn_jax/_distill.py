"""Knowledge distillation: a pruned student learns from its own dense model's logits.

Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural Network" (2015): the student's
loss mixes the cross-entropy with the labels and the KL divergence from the teacher's softened
distribution, ``(1 - w) * CE(s, y) + w * T**2 * KL(softmax(t / T) || softmax(s / T))``; the
``T**2`` keeps the soft term's gradients at the scale of the hard one's as ``T`` changes.

In compression the teacher is the dense model the pipeline starts from, so its logits are
computed once (``_train.predict``), before pruning changes the weights, and cost one forward
pass over the data.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax


@dataclasses.dataclass(frozen=True)
class Distillation:
    """What ``train`` distils from.

    Attributes:
      logits: the teacher's logits, shape ``(N, classes)``, row ``i`` for training example ``i``.
      temperature: ``T`` > 0, the softening of both distributions in the soft term.
      weight: ``w`` in [0, 1], the soft term's share of the loss (0 = labels only).
    """

    logits: np.ndarray | jax.Array
    temperature: float = 4.0
    weight: float = 0.9

    def __post_init__(self) -> None:
        if not self.temperature > 0:
            raise ValueError(f"Distillation: temperature must be > 0, got {self.temperature!r}.")
        if not 0 <= self.weight <= 1:
            raise ValueError(f"Distillation: weight must be in [0, 1], got {self.weight!r}.")
        if np.ndim(self.logits) != 2:
            raise ValueError(
                "Distillation: logits must have shape (examples, classes), got shape "
                f"{np.shape(self.logits)}."
            )


def distillation_loss(
    logits: jax.Array,
    labels: jax.Array,
    teacher_logits: jax.Array,
    temperature: float,
    weight: float,
) -> jax.Array:
    """Mean over the batch of ``(1 - w) * CE + w * T**2 * KL(teacher || student)``."""
    hard = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
    soft = optax.losses.kl_divergence(
        jax.nn.log_softmax(logits / temperature), jax.nn.softmax(teacher_logits / temperature)
    )
    return jnp.mean((1.0 - weight) * hard + weight * temperature**2 * soft)
