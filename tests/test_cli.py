"""`cadnn compress` end to end on a small synthetic Fashion-MNIST, and its errors."""

import gzip
import json
import re
import struct

import numpy as np
import pytest

import cadnn_jax as cj
from cadnn_jax.cli import compress
from cadnn_jax.cli.main import build_parser, main


def _write_idx(path, array, magic):
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in array.shape))
        f.write(array.astype(np.uint8).tobytes())


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 700), ("t10k", 200)):
        labels = rng.integers(0, 10, n)
        images = rng.integers(0, 60, (n, 28, 28))
        images[np.arange(n), labels * 2 + 4, 8:20] = 250  # learnable
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", images, 0x803)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte.gz", labels, 0x801)
    return tmp_path


def _argv(data_dir, out, *extra):
    return [
        "compress",
        "--model",
        "small_cnn",
        "--data-dir",
        str(data_dir),
        "--out",
        str(out),
        "--val-size",
        "100",
        "--pretrain-epochs",
        "2",
        "--prune-epochs",
        "1",
        "--retrain-epochs",
        "1",
        "--batch-size",
        "64",
        "--no-progress",
        *extra,
    ]


def test_compress_end_to_end_writes_report_and_checkpoints(data_dir, tmp_path, capsys):
    out = tmp_path / "run"
    main(_argv(data_dir, out, "--sparsity", "0.9", "--bits", "4", "--allocation", "uniform"))
    report = json.loads((out / "report.json").read_text())
    assert (out / "dense").is_dir() and (out / "compressed").is_dir()
    assert report["accuracy"]["dense"]["test"] > 0.3  # above chance (0.1) on the signal
    for path, s in report["layer_sparsity"].items():
        assert s >= 0.899, path
    assert report["storage"]["pruning_rate"] > 9
    assert "compressed" in capsys.readouterr().out
    # A second run starts from the first run's dense checkpoint.
    main(
        _argv(
            data_dir,
            tmp_path / "again",
            "--init",
            str(out / "dense"),
            "--method",
            "gradual",
            "--rho-max",
            "5",
            "--rounds-per-epoch",
            "3",
            "--distill-temperature",
            "2",
            "--regrow-fraction",
            "0.3",
        )
    )
    again = json.loads((tmp_path / "again" / "report.json").read_text())
    assert again["pretrain_epochs"] == 0 and again["method"] == "gradual"
    assert (
        "--pretrain-epochs 2 not used: the --init model is not trained" in capsys.readouterr().out
    )
    assert (again["schedule"]["rho_max"], again["schedule"]["rounds_per_epoch"]) == (5.0, 3)
    assert (again["schedule"]["distill_temperature"], again["schedule"]["distill_weight"]) == (
        2.0,
        0.9,
    )
    assert again["schedule"]["regrow_fraction"] == 0.3
    # The default global allocation spreads 98% over the layers unevenly, 98% overall.
    assert again["allocation"] == "global"
    assert 45 <= again["storage"]["pruning_rate"] <= 55
    assert len({round(s, 3) for s in again["layer_sparsity"].values()}) > 1


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--sparsity", "1.5"], r"--sparsity must be in \[0, 1\), got 1.5"),
        (["--model", "resnet9000"], "unknown model 'resnet9000'"),
        (["--constraint", "nm", "--n-of-m", "2-4"], "--n-of-m must look like N:M"),
        (["--stages", "0.5,x"], "--stages must be comma-separated"),
        (["--method", "gradual", "--constraint", "blocks"], "magnitude baselines prune"),
        (["--keep-dense", "conv9/*"], "matches no parameter"),
        (["--rho-max", "0"], r"--rho-max must be > 0 and finite, got 0.0"),
        (["--rounds-per-epoch", "0"], "--rounds-per-epoch must be >= 1, got 0"),
        (["--distill-temperature", "-1"], r"--distill-temperature must be >= 0 \(0 = off\)"),
        (["--distill-weight", "1.5"], r"--distill-weight must be in \[0, 1\], got 1.5"),
        (["--regrow-fraction", "1"], r"--regrow-fraction must be in \[0, 1\) \(0 = off\), got 1.0"),
        (
            ["--regrow-fraction", "0.3", "--constraint", "blocks"],
            "--regrow-fraction moves single weights.*got --constraint blocks, --bits None",
        ),
    ],
)
def test_bad_flags_give_clear_errors(data_dir, tmp_path, capsys, extra, match):
    with pytest.raises(SystemExit) as exc:
        main(_argv(data_dir, tmp_path / "bad", *extra))
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--bits", "1"], "--bits: UniformLevels: bits must be an integer >= 2"),
        (["--bits", "0", "--levels", "pow2"], "--bits: PowerOfTwoLevels: bits must be"),
        (["--constraint", "nm", "--n-of-m", "5:4"], "--n-of-m: NOfM: n must be <= m"),
        (["--constraint", "blocks", "--block-size", "0"], "--block-size: Blocks: size must be"),
        (["--constraint", "patterns", "--num-patterns", "0"], "--num-patterns must be >= 1"),
        (["--keep-dense", "conv9/*"], "--keep-dense 'conv9/\\*' matches no parameter"),
        (["--keep-dense", "*"], "--keep-dense '\\*' leaves no layer to prune"),
        (["--model", "lenet5", "--constraint", "patterns"], "lenet5 has no 3x3 convolutions"),
        (["--method", "oneshot", "--bits", "8"], "--method oneshot: the magnitude baselines"),
        (["--rho-growth", "-1"], "--rho-growth must be >= 1 and finite .*, got -1.0"),
        (["--rho", "0.5", "--rho-max", "0.01"], r"--rho \(0.5\) must not exceed --rho-max"),
        (["--lr", "inf"], "--lr must be > 0 and finite, got inf"),
        (["--stages", "0.99", "--sparsity", "0.5"], r"--stages must be rising .*\[0, 0.5\)"),
        (["--stages", "0.9,0.8"], "--stages must be rising sparsities"),
        (["--constraint", "nm", "--n-of-m", "0:4"], "--n-of-m must keep at least 1"),
        (["--val-size", "0"], "--val-size must be >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--batch-size", "700"], "--batch-size 700 is more than the 600 training images"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--bits", "64"], "--bits must be at most 16 .*, got 64"),
        (["--out", ""], "--out must name a directory, got an empty path"),
    ],
)
def test_bad_constraint_flags_fail_before_training(data_dir, tmp_path, capsys, extra, match):
    # These were found only after pretraining; now nothing runs and nothing is written.
    with pytest.raises(SystemExit) as exc:
        main(_argv(data_dir, tmp_path / "bad", *extra))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert re.search(match, err)
    assert "pretraining" not in err
    assert not (tmp_path / "bad").exists()


def _checkpoint(tmp_path, name):
    from flax import nnx

    import models
    from cadnn_jax._checkpoint import save_model

    model = models.get_model(name, rngs=nnx.Rngs(0), num_classes=10)
    save_model(tmp_path / name, model, {"model": name})
    return tmp_path / name


def test_init_takes_the_checkpoints_model(tmp_path):
    # Without --model the checkpoint's model is compressed and named in the outputs.
    args = build_parser().parse_args(["compress", "--init", str(_checkpoint(tmp_path, "lenet5"))])
    model, _ = compress._initial_model(args)
    assert args.model == "lenet5" and type(model).__name__ == "LeNet5"


def test_init_of_another_model_is_refused(data_dir, tmp_path, capsys):
    # A LeNet-5 checkpoint compressed as --model small_cnn was once written out labelled
    # small_cnn, and the checkpoint could not be loaded again.
    init = _checkpoint(tmp_path, "lenet5")
    with pytest.raises(SystemExit) as exc:
        main(_argv(data_dir, tmp_path / "bad", "--init", str(init)))
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--model small_cnn does not match --init" in err and "a checkpoint of lenet5" in err
    assert not (tmp_path / "bad").exists()
    with pytest.raises(SystemExit):
        main(_argv(data_dir, tmp_path / "bad", "--init", str(tmp_path / "nowhere")))
    assert "--init: " in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_missing_dataset_says_which_package(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(_argv(tmp_path / "nowhere", tmp_path / "out"))
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_an_out_that_is_a_file_is_named(data_dir, tmp_path, capsys):
    (tmp_path / "taken").write_text("")
    with pytest.raises(SystemExit) as exc:
        main(_argv(data_dir, tmp_path / "taken"))
    assert exc.value.code == 2
    assert "--out: cannot create directory" in capsys.readouterr().err


@pytest.mark.parametrize("allocation", ["global", "lamp", "uniform"])
def test_allocation_gives_the_library_rates(allocation: str) -> None:
    rng = np.random.default_rng(0)
    params = {
        "conv1": {"kernel": rng.normal(size=(5, 5, 1, 8)), "bias": np.zeros(8)},
        "fc1": {"kernel": 0.1 * rng.normal(size=(200, 50))},
        "fc2": {"kernel": rng.normal(size=(50, 10))},
    }
    argv = ["compress", "--sparsity", "0.95", "--allocation", allocation, "--keep-dense", "fc2/*"]
    rates = compress._layer_rates(build_parser().parse_args(argv), params)
    paths = ["conv1/kernel", "fc1/kernel"]  # fc2 kept dense, biases never pruned
    expected = {
        "global": cj.global_magnitude_rates(params, 0.95, paths=paths),
        "lamp": cj.lamp_rates(params, 0.95, paths=paths),
        "uniform": dict.fromkeys(paths, 0.95),
    }[allocation]
    assert rates == expected


def test_version_names_the_compiler_it_runs_on(capsys):
    # `cadnn --version` said "the following arguments are required: COMMAND".
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(
        r"cadnn \d+\.\d+\.\d+ \(jax \S+, iree-base-compiler \S+, iree-base-runtime \S+\)", line
    ), line


def test_version_of_a_source_tree_not_installed(monkeypatch):
    # Every command built the --version string, and failed where cadnn-jax is not installed.
    import importlib.metadata

    from cadnn_jax.cli import main as main_module

    real = importlib.metadata.version

    def version(dist):
        if dist == "cadnn-jax":
            raise importlib.metadata.PackageNotFoundError(dist)
        return real(dist)

    monkeypatch.setattr(importlib.metadata, "version", version)
    assert main_module._version().startswith("cadnn (not installed) (jax ")
