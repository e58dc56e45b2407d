"""Paths of parameter leaves, and prefix trees (of specs, rates, schedules) broadcast over them.

Every per-leaf setting in cadnn_jax (a constraint spec, a rho, a mask) is given as a tree that is
a *prefix* of the parameters: a nested mapping (or sequence) whose keys follow the parameters'
keys, where a value stands for every leaf below it and ``None`` leaves a subtree alone. The same
tree works for Flax NNX ``nnx.State``, linen-style nested dicts and plain pytrees, because it is
matched by key path rather than by pytree node type.

Leaves are named by their path string, e.g. ``"conv1/kernel"`` or ``"layers/0/kernel"`` (the
trailing ``.value`` of an NNX variable is dropped).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import jax
import numpy as np

T = TypeVar("T")


def _key_name(key: Any) -> str | int | None:
    if isinstance(key, jax.tree_util.DictKey):
        return key.key
    if isinstance(key, jax.tree_util.SequenceKey):
        return key.idx
    if isinstance(key, jax.tree_util.GetAttrKey):
        return None if key.name == "value" else key.name
    if isinstance(key, jax.tree_util.FlattenedIndexKey):
        return key.key
    return str(key)


def path_parts(path: Sequence[Any]) -> tuple[str | int, ...]:
    """The keys of a ``jax.tree_util`` key path, without NNX's trailing ``value`` attribute."""
    return tuple(name for name in map(_key_name, path) if name is not None)


def path_str(path: Sequence[Any]) -> str:
    """A key path as a ``/``-joined string, e.g. ``"conv1/kernel"``."""
    return "/".join(str(p) for p in path_parts(path))


def leaf_paths(params: Any) -> list[str]:
    """The path strings of every array leaf of ``params``, in ``jax.tree.leaves`` order."""
    return [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(params)[0]]


def named_leaves(params: Any) -> dict[str, Any]:
    """``{path: leaf}`` for every leaf of ``params``, in ``jax.tree.leaves`` order."""
    return {path_str(p): x for p, x in jax.tree_util.tree_flatten_with_path(params)[0]}


def _is_node(x: Any) -> bool:
    return isinstance(x, Mapping) or (isinstance(x, (list, tuple)) and not _is_value_tuple(x))


def _is_value_tuple(x: Any) -> bool:
    # NamedTuples (and frozen spec objects) are values, not tree nodes.
    return hasattr(x, "_fields")


def broadcast_prefix(
    prefix: Any,
    params: Any,
    *,
    argname: str,
    is_value: Callable[[Any], bool] | None = None,
) -> dict[str, Any]:
    """Broadcast a prefix tree over the leaves of ``params``.

    Args:
      prefix: a value (applies to every leaf), ``None``, or a nested mapping / sequence whose keys
        are keys of ``params``. Keys that are absent from ``prefix`` mean ``None``.
      params: the parameter pytree (``nnx.State``, nested dicts, ...).
      argname: the caller's argument name, used in error messages.
      is_value: tells a leaf value from a tree node; by default mappings and lists/tuples
        (other than NamedTuples) are nodes and everything else is a value.

    Returns:
      ``{path: value}`` for every leaf of ``params``, in ``jax.tree.leaves`` order; leaves the
      prefix leaves alone map to ``None``.

    Raises:
      ValueError: if ``params`` is None, or ``prefix`` names a key that ``params`` does not have.
    """
    if params is None:
        raise ValueError(f"{argname}: params must be a pytree of arrays, got None.")
    is_node = (lambda x: not is_value(x)) if is_value is not None else _is_node
    flat = jax.tree_util.tree_flatten_with_path(params)[0]
    parts = [path_parts(p) for p, _ in flat]

    def lookup(tree: Any, keys: tuple[str | int, ...]) -> Any:
        for key in keys:
            if tree is None or not is_node(tree):
                return tree
            if isinstance(tree, Mapping):
                tree = tree.get(key, tree.get(str(key)) if not isinstance(key, str) else None)
            else:
                tree = tree[key] if isinstance(key, int) and key < len(tree) else None
        if tree is not None and is_node(tree):
            raise ValueError(
                f"{argname}: the tree goes deeper than params at {'/'.join(map(str, keys))!r}; "
                "a prefix tree must stop at (or above) the parameter leaves."
            )
        return tree

    _check_keys_exist(prefix, parts, argname, is_node)
    return {"/".join(map(str, k)): lookup(prefix, k) for k in parts}


def _check_keys_exist(
    prefix: Any, parts: list[tuple[str | int, ...]], argname: str, is_node
) -> None:
    known = set()
    for keys in parts:
        for i in range(1, len(keys) + 1):
            known.add(tuple(str(k) for k in keys[:i]))

    def walk(tree: Any, at: tuple[str, ...]) -> None:
        if tree is None or not is_node(tree):
            return
        items = tree.items() if isinstance(tree, Mapping) else enumerate(tree)
        for key, sub in items:
            here = (*at, str(key))
            if here not in known:
                available = sorted(
                    {k[len(at)] for k in known if len(k) > len(at) and k[: len(at)] == at}
                )
                raise ValueError(
                    f"{argname}: no parameter at {'/'.join(here)!r}; the tree must be a prefix of "
                    f"params. Keys available there: {available}."
                )
            walk(sub, here)

    walk(prefix, ())


def check_shapes(owner: str, params: Any, shapes: Mapping[str, tuple[int, ...]]) -> None:
    """Raises ValueError unless ``params`` has a leaf at every path of ``shapes``, of that shape.

    Transforms record the shapes of the ``params`` they were built with and check ``init``'s
    against them; shapes are static, so this also holds under ``jit``.
    """
    named = named_leaves(params)
    missing = [p for p in shapes if p not in named]
    if missing:
        raise ValueError(
            f"{owner}: init got params without {missing}; pass the params the transform was "
            "built with."
        )
    for path, shape in shapes.items():
        if tuple(np.shape(named[path])) != tuple(shape):
            raise ValueError(
                f"{owner}: init got params where {path!r} has shape "
                f"{tuple(np.shape(named[path]))}, but the transform was built for {tuple(shape)}."
            )


def unflatten_like(params: Any, values: Mapping[str, T] | Sequence[T]) -> Any:
    """A pytree with the structure of ``params`` and leaves from ``values`` (by path or order)."""
    treedef = jax.tree.structure(params)
    if isinstance(values, Mapping):
        values = [values[p] for p in leaf_paths(params)]
    return jax.tree.unflatten(treedef, list(values))


def nest_paths(flat: Mapping[str, T]) -> dict[str, Any]:
    """``{"conv1/kernel": v}`` -> ``{"conv1": {"kernel": v}}``: a prefix tree for any params."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        node = root
        *parents, last = path.split("/")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return root


def find_state(opt_state: Any, kind: type[T]) -> T | None:
    """The first ``kind`` (a state NamedTuple such as ``ADMMState``) inside an optimizer state,
    with plain arrays as leaves, or ``None``.

    ``nnx.Optimizer`` wraps every leaf of its state in a variable; this unwraps them.
    """
    for leaf in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, kind)):
        if isinstance(leaf, kind):
            return jax.tree.map(_unwrap, leaf, is_leaf=lambda x: hasattr(x, "get_value"))
    return None


def _unwrap(x: Any) -> Any:
    return x.get_value() if hasattr(x, "get_value") else x
