"""Flax NNX model zoo: definitions only, and a registry of them by name."""

from collections.abc import Callable

from flax import nnx

from .lenet import LeNet5 as LeNet5
from .lenet import SmallCNN as SmallCNN

# To add a family: define it in its own file and add one line here. Every constructor takes
# keyword-only ``num_classes`` and ``rngs``.
MODELS: dict[str, Callable[..., nnx.Module]] = {
    "lenet5": LeNet5,
    "small_cnn": SmallCNN,
}


def get_model(name: str, *, rngs: nnx.Rngs, num_classes: int = 10) -> nnx.Module:
    """Builds a registered model by name.

    Args:
      name: a key of ``MODELS``, e.g. ``"lenet5"``.
      rngs: random streams for initialisation.
      num_classes: number of output logits.

    Returns:
      The freshly initialised module.

    Raises:
      ValueError: if ``name`` is not registered.
    """
    if name not in MODELS:
        raise ValueError(f"name must be one of {sorted(MODELS)}, got {name!r}.")
    return MODELS[name](num_classes=num_classes, rngs=rngs)


__all__ = [
    "MODELS",
    "LeNet5",
    "SmallCNN",
    "get_model",
]
