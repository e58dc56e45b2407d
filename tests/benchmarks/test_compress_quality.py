"""The quality sweep's command line: every schedule flag reaches the ``Schedule`` it runs."""

import dataclasses

import numpy as np
import pytest

import cadnn_jax as cj
from benchmarks import compress_quality
from cadnn_jax._compress import Schedule


def test_defaults_match_schedule_defaults() -> None:
    args = compress_quality._parser().parse_args([])
    schedule = compress_quality._schedule({"method": "gradual", "rate": 0.99}, args, seed=3)
    defaults = dataclasses.asdict(Schedule())
    for name in ("lr", "retrain_lr", "rho", "rho_max", "batch_size", "rounds_per_epoch"):
        assert getattr(schedule, name) == defaults[name], name
    assert schedule.stages == () and schedule.seed == 3


def test_flags_reach_schedule() -> None:
    args = compress_quality._parser().parse_args(
        "--prune-epochs 8 --retrain-epochs 6 --lr 2e-3 --retrain-lr 5e-3 --rho 0.02 "
        "--rho-growth 2 --rho-max 10 --rounds-per-epoch 4 --stages 2 --stage-mode proportional "
        "--admm-opt sgd --batch-size 64".split()
    )
    admm = compress_quality._schedule({"method": "admm", "rate": 0.99}, args, seed=0)
    assert (admm.prune_epochs, admm.retrain_epochs) == (8, 6)
    assert (admm.lr, admm.retrain_lr) == (2e-3, 5e-3)
    assert (admm.rho, admm.rho_growth, admm.rho_max, admm.rounds_per_epoch) == (0.02, 2, 10, 4)
    # Two stages, each halving the density gap to the final rate.
    assert [round(s, 6) for s in admm.stages] == [0.96, 0.98]
    assert admm.proportional_stages and admm.admm_optimizer == "sgd"
    assert admm.batch_size == 64
    gradual = compress_quality._schedule({"method": "gradual", "rate": 0.99}, args, seed=0)
    assert gradual.stages == () and gradual.retrain_lr == 5e-3 and gradual.lr == 2e-3


def test_admm_spec_global_shares_one_budget_across_layers() -> None:
    rates = {"a/kernel": 0.5, "b/kernel": 0.5}
    layer_args = compress_quality._parser().parse_args(["--rates", "0.75"])
    (run,) = [r for r in compress_quality._runs(layer_args) if r["name"] == "admm-0.75"]
    assert "spec" not in run
    assert compress_quality._constraints(run, rates)("a/kernel", (2, 2)) == cj.Unstructured(0.5)

    args = compress_quality._parser().parse_args("--rates 0.75 --admm-spec global".split())
    runs = {r["name"]: r for r in compress_quality._runs(args)}
    # Only ADMM's unstructured runs change; gradual and blocks keep the per-layer rates.
    assert runs["admm-0.75"]["spec"] == "global"
    assert "spec" not in runs["gradual-0.75"] and "spec" not in runs["admm-blocks4-0.95"]
    spec = compress_quality._constraints(runs["admm-0.75"], rates)
    assert spec("a/kernel", (2, 2)) == cj.GlobalUnstructured(0.75)
    assert spec("a/bias", (2,)) is None

    # One top-k over both layers: the 2 largest magnitudes are both in b, a is emptied.
    params = {
        "a": {"kernel": np.array([[0.1, 0.2], [0.3, 0.4]], np.float32)},
        "b": {"kernel": np.array([[5.0, 0.0], [0.0, 6.0]], np.float32)},
    }
    pruned, _ = cj.hard_prune(params, cj.allocate(params, spec))
    # The rates each layer really has are in the run's storage report, as the sweep records it.
    storage = cj.storage_report(pruned)
    assert {layer.path: layer.sparsity for layer in storage.layers} == {
        "a/kernel": 1.0,
        "b/kernel": 0.5,
    }
    assert 1 - storage.nonzeros / storage.size == 0.75


def test_layer_rate_pins_a_layer_and_keeps_the_survivor_count() -> None:
    rng = np.random.default_rng(0)
    params = {
        "a": {"kernel": rng.normal(size=(10, 10)).astype(np.float32)},
        "b": {"kernel": rng.normal(size=(20, 45)).astype(np.float32)},
        "c": {"kernel": 3 * rng.normal(size=(10, 10)).astype(np.float32)},
    }
    sizes = {"a/kernel": 100, "b/kernel": 900, "c/kernel": 100}
    shared = compress_quality._layer_rates(params, 0.9, [])
    assert shared == cj.global_magnitude_rates(params, 0.9)
    args = compress_quality._parser().parse_args(["--layer-rate", "a/kernel=0.5"])
    rates = compress_quality._layer_rates(params, 0.9, args.layer_rate)
    assert rates["a/kernel"] == 0.5
    kept = sum((1 - r) * sizes[p] for p, r in rates.items())
    assert abs(kept - 110) < 1  # 10% of 1,100 weights, as without the pin
    # The other two share the rest by one threshold: c's larger weights keep more of it.
    assert rates["c/kernel"] < rates["b/kernel"]


def test_allocation_flag_chooses_the_rates() -> None:
    rng = np.random.default_rng(2)
    params = {
        "a": {"kernel": rng.normal(size=(10, 10)).astype(np.float32)},
        "b": {"kernel": 5 * rng.normal(size=(30, 30)).astype(np.float32)},
    }
    args = compress_quality._parser().parse_args(["--allocation", "lamp"])
    lamp = compress_quality._layer_rates(params, 0.9, [], args.allocation)
    assert lamp == cj.lamp_rates(params, 0.9) != cj.global_magnitude_rates(params, 0.9)
    pinned = compress_quality._layer_rates(params, 0.9, [("a/kernel", 0.5)], "lamp")
    assert pinned["a/kernel"] == 0.5
    assert pinned["b/kernel"] == cj.lamp_rates(params, 1 - 50 / 900, paths=["b/kernel"])["b/kernel"]
    with pytest.raises(SystemExit):
        compress_quality._parser().parse_args(["--allocation", "uniform"])


def test_layer_rate_errors() -> None:
    rng = np.random.default_rng(1)
    params = {n: {"kernel": rng.normal(size=(10, 10)).astype(np.float32)} for n in "ab"}
    with pytest.raises(ValueError, match=r"names \['z/kernel'\], not pruned layers"):
        compress_quality._layer_rates(params, 0.9, [("z/kernel", 0.5)])
    with pytest.raises(ValueError, match="leaves -30 survivors for the other layers"):
        compress_quality._layer_rates(params, 0.9, [("a/kernel", 0.5)])
    with pytest.raises(SystemExit):
        compress_quality._parser().parse_args(["--layer-rate", "a/kernel=1.5"])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ("--batch-size 0", "--batch-size must be an integer >= 1, got 0"),
        ("--lr -1", "--lr must be > 0, got -1.0"),
        ("--seeds -1", "--seeds must be >= 0, got [-1]"),
        ("--rho-growth -1", "--rho-growth must be >= 1 and finite (1 = constant), got -1.0"),
        ("--rates 1.0 --only gradual", "argument --rates: must be a sparsity in [0, 1), got 1.0"),
        ("--joint-rate 1.5", "argument --joint-rate: must be a sparsity in [0, 1), got 1.5"),
        ("--block-rate -0.1", "argument --block-rate: must be a sparsity in [0, 1), got -0.1"),
        ("--only nothing", "--only nothing matches no run; the runs are ['admm-"),
        ("--layer-rate fc9/kernel=0.5 --only gradual-0.99", "--layer-rate names ['fc9/kernel']"),
        # Taken, 1 bit failed when the joint run started, after the dense models; 0 ran it
        # without quantization ...
        ("--joint-bits 1", "--joint-bits: UniformLevels: bits must be an integer >= 2"),
        ("--joint-bits 0", "--joint-bits: UniformLevels: bits must be an integer >= 2"),
        # ... failed in training with a traceback, or ran as if 0 ...
        ("--dense-epochs -1", "--dense-epochs must be >= 0, got -1"),
        ("--stages -1", "--stages must be >= 0, got -1"),
        # ... or trained and stored every run twice (a file quality_table.py refuses).
        ("--seeds 0 0", "--seeds must differ from each other, got [0, 0]"),
        ("--rates 0.99 0.990", "--rates must differ from each other, got [0.99, 0.99]"),
    ],
)
def test_bad_flags_fail_before_any_training(
    flags: str, message: str, capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path
) -> None:
    monkeypatch.setattr(compress_quality, "RESULTS", tmp_path / "results")
    monkeypatch.setattr(compress_quality, "load_fashion_mnist", _no_data)
    with pytest.raises(SystemExit):
        compress_quality.main([*flags.split(), "--tag", "bad", "--cache", str(tmp_path / "c")])
    assert message in capsys.readouterr().err
    assert not (tmp_path / "results").exists() and not (tmp_path / "c").exists()


def _no_data(*args: object) -> None:
    raise AssertionError("the data was loaded: training would follow")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        # Taken, the tag's '/' failed when the first result was written, after the dense model.
        (["--tag", "s33/zen4"], "argument --tag: must be letters, digits"),
        (["--cache", "{file}"], "argument --cache: must be a directory, or a path where one"),
        # A results file to resume that is not one was a traceback.
        (["--tag", "broken"], "cannot read results file '{results}/compress_quality-broken.json'"),
    ],
)
def test_bad_paths_fail_before_anything_is_written(
    flags: list[str], message: str, capsys: pytest.CaptureFixture[str], monkeypatch, tmp_path
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    (results / "compress_quality-broken.json").write_text("{")
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(compress_quality, "RESULTS", results)
    monkeypatch.setattr(compress_quality, "load_fashion_mnist", _no_data)
    paths = {"file": tmp_path / "file", "results": results}
    argv = ["--cache", str(tmp_path / "c"), *(f.format(**paths) for f in flags)]
    with pytest.raises(SystemExit) as exc:
        compress_quality.main(argv)
    assert exc.value.code == 2
    assert message.format(**paths) in capsys.readouterr().err
    assert not (tmp_path / "c").exists()
    assert [p.name for p in results.iterdir()] == ["compress_quality-broken.json"]
