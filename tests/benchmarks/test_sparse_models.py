"""The sparse-model benchmark on a small zoo model: pruning recipes, batch-norm statistics, and
a real interleaved run whose sparse build matches JAX."""

import json
import logging
from pathlib import Path

import jax
import numpy as np
import pytest

from benchmarks import peers, sparse_models
from lowering.export import bake_weights
from lowering.passes._sparse_formats import layout_for_taps


def _leaves(state) -> dict[str, np.ndarray]:
    return {
        "/".join(sparse_models._names(p)): np.asarray(w)
        for p, w in jax.tree_util.tree_leaves_with_path(state)
    }


def test_batch_norm_statistics_differ_per_channel() -> None:
    _, state, _ = peers.build_state("resnet8", 0)
    drawn = _leaves(sparse_models.randomize_batch_norm(state, np.random.default_rng(0)))
    variances = [w for k, w in drawn.items() if k.endswith("/var")]
    assert variances and all(np.all((w >= 0.5) & (w <= 1.5)) for w in variances)
    assert all(np.unique(w).size == w.size for k, w in drawn.items() if k.endswith("/mean"))
    kernels = {k for k in drawn if k.endswith("/kernel")}
    before = _leaves(state)
    assert all(np.array_equal(drawn[k], before[k]) for k in kernels)


@pytest.mark.parametrize("structure", sparse_models.STRUCTURES)
def test_recipe_prunes_what_it_names(structure: str) -> None:
    _, state, _ = peers.build_state("resnet8", 0)
    recipe = sparse_models.Recipe(0.25, only_1x1=False, dense_flags=())
    pruned, summary = sparse_models.prune_state(state, recipe, structure)
    kernels = _leaves(pruned)
    for layer in summary["layers"]:
        w = kernels[layer["path"]]
        if layer["kind"] == "fc":  # the classifier stays dense unless the recipe says otherwise
            assert not layer["pruned"] and layer["density"] == 1.0
            continue
        if w.shape[2] in (1, 3):  # the first convolution (one input channel here) stays dense
            assert not layer["pruned"] and layer["density"] == 1.0
            continue
        assert layer["pruned"]
        assert layer["density"] == pytest.approx(0.25, abs=0.02)
        if structure == "blocks":
            taps = layout_for_taps(w.transpose(3, 2, 0, 1))
            assert {t.kind for _, t in taps} == {"blocks"}
            assert all(t.padding_waste == 0 for _, t in taps)
        if structure == "balanced":
            per_tap = np.count_nonzero(w, axis=2)  # [kh, kw, M]
            assert np.all(per_tap == per_tap.flat[0])
    assert summary["conv_compression"] > 3


def test_only_1x1_leaves_depthwise_dense() -> None:
    _, state, _ = peers.build_state("mobilenet_v2_small", 0)
    recipe = sparse_models.Recipe(0.25, only_1x1=True, dense_flags=())
    _, summary = sparse_models.prune_state(state, recipe, "blocks")
    convs = [layer for layer in summary["layers"] if layer["kind"] == "conv"]
    assert convs
    for layer in convs:
        kh, kw, c, _ = layer["shape"]
        assert layer["pruned"] == ((kh, kw) == (1, 1) and c not in (1, 3))


def test_classifier_pruned_only_when_asked() -> None:
    _, state, _ = peers.build_state("mobilenet_v2_small", 0)
    for classifier in (False, True):
        recipe = sparse_models.Recipe(0.25, True, (), classifier=classifier)
        pruned, summary = sparse_models.prune_state(state, recipe, "blocks")
        (fc,) = [layer for layer in summary["layers"] if layer["kind"] == "fc"]
        (w,) = [
            np.asarray(w)
            for p, w in jax.tree_util.tree_leaves_with_path(pruned)
            if "/".join(sparse_models._names(p)) == fc["path"]
        ]
        assert fc["pruned"] == classifier
        assert fc["density"] == pytest.approx(0.25 if classifier else 1.0, abs=0.02)
        assert np.count_nonzero(w) / w.size == pytest.approx(fc["density"])
        if classifier:  # blocks of 4 output units share their input positions
            nz = w[:, : w.shape[1] // 4 * 4].reshape(w.shape[0], -1, 4) != 0
            assert np.all(nz == nz[:, :, :1])
        conv_total = sum(
            int(np.prod(layer["shape"])) for layer in summary["layers"] if layer["kind"] == "conv"
        )
        assert summary["conv_weights"] == conv_total


def test_sparse_build_matches_jax_in_an_interleaved_run(tmp_path: Path) -> None:
    forward, state, x = peers.build_state("resnet8", 0)
    state = sparse_models.randomize_batch_norm(state, np.random.default_rng(1))
    recipe = sparse_models.Recipe(0.25, only_1x1=False, dense_flags=())
    state, _ = sparse_models.prune_state(state, recipe, "blocks")
    fn = bake_weights(forward, state)
    engines = sparse_models.build_engines(
        fn,
        x,
        kinds=["onnxruntime", "iree-dense", "iree-sparse"],
        dense_flags=(),
        threads=1,
        threshold=0.4,
        workdir=tmp_path,
    )
    collect = sparse_models._Collect()
    log = logging.getLogger("lowering.passes.sparse_dispatch")
    log.addHandler(collect)
    log.setLevel(logging.INFO)
    try:
        result = peers.measure(fn, x, engines, rounds=1, seconds=0.01)
    finally:
        log.removeHandler(collect)
    by = {r["engine"]: r for r in result["engines"]}
    assert list(by) == ["onnxruntime", sparse_models.DENSE, sparse_models.SPARSE]
    for r in by.values():
        assert r["error"] is None, r["error"]
        assert r["rel_err"] < 1e-4
    assert any("sparse taps in 4-row blocks" in line for line in collect.lines)
    assert any("fused: bias + relu" in line for line in collect.lines)
    up = sparse_models.speedups(result["engines"])
    assert set(up) == {"onnxruntime", sparse_models.DENSE}
    assert up["onnxruntime"] == pytest.approx(
        by["onnxruntime"]["median_ms"] / by[sparse_models.SPARSE]["median_ms"]
    )
    row = sparse_models.markdown_rows(
        {
            "model": "resnet8",
            "engines": result["engines"],
            "threads": 1,
            "speedup_of_sparse": up,
            "pruning": {"structure": "blocks", "conv_compression": 3.9},
        }
    )
    assert row[-1].startswith("| resnet8 | blocks, 3.9x fewer conv weights | 1 |")
    # jax.jit was not among the engines: its cell says so rather than "failed".
    assert "| not run |" in row[-1] and "failed" not in row[-1]
    (sparse_row,) = [line for line in row if line.startswith("| resnet8 | iree:sparse |")]
    assert sparse_row.endswith("(dense-equivalent) |") and "ms" not in sparse_row
    json.dumps(result)


def test_bad_arguments_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, message in [
        (["--model", "resnet50", "--density", "1.5"], "--density must be in (0, 1]"),
        (["--model", "resnet50", "--engines", "jax"], "--engines must include iree-sparse"),
        (
            ["--model", "resnet50", "--threads", "0"],
            "argument --threads: must be at least 1, got 0",
        ),
        (["--model", "resnet50", "--grid-overhead", "-1"], "--grid-overhead must be >= 0"),
    ]:
        with pytest.raises(SystemExit):
            sparse_models._parse_args(argv)
        assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        # All were taken: these two failed only after the model was built (and timed) ...
        (["--out-dir", "{file}"], "argument --out-dir: must be a directory"),
        (["--workdir", "{file}/modules"], "argument --workdir: must be a directory"),
        # ... this one wrote into a new subdirectory of the results ...
        (["--tag", "s33/zen4"], "argument --tag: must be letters, digits"),
        # ... and no density is below NaN: a "sparse" build without one sparse kernel.
        (["--threshold", "nan"], "--threshold must be >= 0, got nan"),
        (["--grid-overhead", "nan"], "--grid-overhead must be >= 0, got nan"),
    ],
)
def test_bad_paths_tags_and_nans_stop_the_parse(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    argv = ["--model", "resnet50", *(a.format(file=tmp_path / "file") for a in extra)]
    with pytest.raises(SystemExit) as exc:
        sparse_models._parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
