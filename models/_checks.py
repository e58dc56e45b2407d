"""Argument checks shared by the model constructors and their ``__call__``: messages that
name the argument, the value and what is allowed, raised before flax or jax would fail
obscurely (a ZeroDivisionError in an initializer, a feature-count mismatch)."""

from __future__ import annotations

import numbers

import jax


def check_at_least_one(**values: int) -> None:
    """Raises ValueError naming the first of ``values`` (name=value) below 1."""
    for name, value in values.items():
        # True is an int to Python; 2.5 channels is no size.
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")


def check_dropout_rate(rate: float) -> None:
    """Raises ValueError unless ``rate`` is in [0, 1]."""
    if not 0 <= rate <= 1:
        raise ValueError(f"dropout_rate must be in [0, 1], got {rate}")


def check_images(x: jax.Array, channels: int) -> None:
    """Raises ValueError unless ``x`` is NHWC images of ``channels`` channels (static shapes,
    so this holds under jit)."""
    if x.ndim != 4 or x.shape[3] != channels:
        raise ValueError(f"x must have shape (N, H, W, in_features={channels}), got {x.shape}")
