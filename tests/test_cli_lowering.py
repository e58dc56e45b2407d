"""`cadnn compile / run / bench` end to end on a small checkpoint, and their errors."""

import gzip
import json
import os
import pathlib
import re

import numpy as np
import optax
import pytest
from flax import nnx

import lowering
import models
from cadnn_jax import save_model, train
from cadnn_jax.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    model = models.get_model("small_cnn", rngs=nnx.Rngs(0))
    rng = np.random.default_rng(0)
    x = rng.random((128, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, 128).astype(np.int32)
    train(model, optax.adam(1e-3), x, y, epochs=1, batch_size=64, progress=False)
    path = tmp_path_factory.mktemp("ckpt") / "model"
    save_model(path, model, {"model": "small_cnn"})
    return path


def test_compile_run_bench_on_host(checkpoint, tmp_path):
    out = tmp_path / "iree"
    main(["compile", str(checkpoint), "--targets", "host", "--out", str(out)])
    report = json.loads((out / "compile.json").read_text())
    assert report["targets"]["host"]["size_bytes"] > 0
    x = np.random.default_rng(1).random((1, 28, 28, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    main(
        [
            "run",
            str(out / "host.vmfb"),
            "--input",
            str(tmp_path / "x.npy"),
            "--output",
            str(tmp_path / "y.npy"),
        ]
    )
    from cadnn_jax import load_model
    from cadnn_jax.cli.compile import forward_fn

    model, _ = load_model(checkpoint)
    expected = np.asarray(forward_fn(model)(x))
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-4, atol=1e-5)
    main(
        [
            "bench",
            str(out / "host.vmfb"),
            "--devices",
            "local-sync,local-task",
            "--rounds",
            "1",
            "--repetitions",
            "2",
            "--checkpoint",
            str(checkpoint),
            "--out",
            str(tmp_path / "b.json"),
        ]
    )
    bench = json.loads((tmp_path / "b.json").read_text())
    assert bench["engines"]["host/iree-local-sync"]["median_ms"] > 0
    assert bench["engines"]["host/iree-local-task"]["median_ms"] > 0
    assert bench["engines"]["jax.jit"]["ratio_to_jax"] == 1.0
    assert bench["workers"] == "floating"
    assert bench["runtime_flags"] == {
        "local-sync": [],
        "local-task": [f"--task_topology_group_count={os.cpu_count()}"],
    }


def test_bench_runtime_flags() -> None:
    """Floating local-task workers are one group per core; pinned ones and local-sync keep
    IREE's defaults."""
    from cadnn_jax.cli.bench import runtime_flags

    assert runtime_flags("local-task", "floating", cores=4) == ["--task_topology_group_count=4"]
    assert runtime_flags("local-task", "pinned", cores=4) == []
    assert runtime_flags("local-sync", "floating", cores=4) == []


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["compile", "{ckpt}", "--targets", "gpu9"], "unknown target 'gpu9'; known targets"),
        (["compile", "{ckpt}", "--input-shape", "28,x"], "--input-shape must be"),
        (["compile", "/nonexistent/model"], "/nonexistent/model"),
        (["run", "/nonexistent.vmfb", "--input", "x.npy"], "no file at '/nonexistent.vmfb'"),
        (["bench", "/nonexistent.vmfb"], "no file at '/nonexistent.vmfb'"),
    ],
)
def test_errors_are_clear(checkpoint, capsys, argv, match):
    with pytest.raises(SystemExit) as exc:
        main([a.replace("{ckpt}", str(checkpoint)) for a in argv])
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--batch", "0"], "--batch must be >= 1, got 0"),
        (["--check", "-1"], r"--check must be >= 0 \(0 = no check\), got -1"),
        (["--tolerance", "-1"], "--tolerance must be >= 0, got -1.0"),
        (
            ["--sparse-threshold", "-0.5"],
            r"--sparse-threshold must be a density in \[0, 1\], got -0.5",
        ),
        (
            ["--sparse-threshold", "1.5"],
            r"--sparse-threshold must be a density in \[0, 1\], got 1.5",
        ),
        (
            ["--sparse-threshold", "nan"],
            r"--sparse-threshold must be a density in \[0, 1\], got nan",
        ),
        (["--input-shape", "32,32,3"], "--input-shape 32,32,3 does not fit model 'small_cnn'"),
        (["--input-shape", "28,28,1,1"], "--input-shape must be three integers H,W,C"),
        # The dataset is loaded before anything is compiled.
        (
            ["--check", "2", "--data-dir", "/nonexistent"],
            "--check needs the Fashion-MNIST test images.*'/nonexistent/t10k-images",
        ),
    ],
)
def test_compile_checks_its_flags_before_writing(checkpoint, tmp_path, capsys, flags, match):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(checkpoint), "--targets", "host", "--out", str(out), *flags])
    assert exc.value.code == 2
    assert re.search(match, capsys.readouterr().err)
    assert not out.exists()


def test_a_compile_that_fails_part_way_leaves_the_earlier_outputs(
    checkpoint, tmp_path, capsys, monkeypatch
):
    # The modules were written straight into --out: a run failing after its first target
    # left a new host.vmfb beside the earlier run's other modules and compile.json.
    out = tmp_path / "iree"
    out.mkdir()
    earlier = {"host.vmfb": b"earlier host", "compile.json": b"{}"}
    for name, data in earlier.items():
        (out / name).write_bytes(data)
    compile_module = lowering.compile_module

    def fail_on_vulkan(fn, target, *args, **kwargs):
        if target == "vulkan-valhall":
            raise lowering.CompileError("iree-compile", 1, [], "no vulkan today", tmp_path)
        return compile_module(fn, target, *args, **kwargs)

    monkeypatch.setattr(lowering, "compile_module", fail_on_vulkan)
    argv = ["compile", str(checkpoint), "--targets", "host,vulkan-valhall", "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "no vulkan today" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == earlier
    # And a run that succeeds moves every module in and reports where each one is.
    monkeypatch.setattr(lowering, "compile_module", compile_module)
    main(["compile", str(checkpoint), "--targets", "host", "--out", str(out)])
    report = json.loads((out / "compile.json").read_text())
    for target in report["targets"].values():
        assert pathlib.Path(target["path"]).stat().st_size == target["size_bytes"]
    assert sorted(p.name for p in out.iterdir()) == [
        "compile.json",
        "host-dense.vmfb",
        "host.vmfb",
    ]


def test_compile_names_an_out_it_cannot_write_into(checkpoint, tmp_path, capsys, monkeypatch):
    # A read-only --out that exists gave a PermissionError traceback from the staging
    # directory (root can write anywhere, so the refusal is simulated).
    from cadnn_jax.cli import _files

    def refuse(parent, prefix):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(_files, "make_temp_dir", refuse)
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(checkpoint), "--targets", "host", "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert f"--out: cannot write into '{tmp_path}': Permission denied." in capsys.readouterr().err


def test_compile_names_an_out_it_cannot_create(checkpoint, tmp_path, capsys):
    (tmp_path / "file").write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["compile", str(checkpoint), "--out", str(tmp_path / "file" / "sub")])
    assert exc.value.code == 2
    assert "--out: cannot create directory" in capsys.readouterr().err


def test_bench_rejects_unknown_devices_and_says_why_nothing_ran(checkpoint, tmp_path, capsys):
    out = tmp_path / "iree"
    main(["compile", str(checkpoint), "--targets", "arm64-a76", "--out", str(out)])
    module = str(out / "arm64-a76.vmfb")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["bench", module, "--devices", "local-sync,warp"])
    assert exc.value.code == 2
    assert "--devices: unknown device 'warp'; known host devices" in capsys.readouterr().err
    # An arm64 module cannot run on this host: each device's failure is printed, and the
    # command fails instead of printing nothing.
    with pytest.raises(SystemExit) as exc:
        main(["bench", module, "--rounds", "1", "--repetitions", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "arm64-a76/iree-local-sync: failed:" in err
    assert "no module ran on local-sync, local-task" in err


def test_run_with_a_wrongly_shaped_input(checkpoint, tmp_path, capsys):
    out = tmp_path / "iree"
    main(["compile", str(checkpoint), "--targets", "host", "--out", str(out)])
    np.save(tmp_path / "bad.npy", np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(SystemExit):
        main(["run", str(out / "host.vmfb"), "--input", str(tmp_path / "bad.npy")])
    assert "inputs do not match the module" in capsys.readouterr().err
    # An --output in a directory that does not exist is named before the module runs.
    np.save(tmp_path / "x.npy", np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(SystemExit):
        main(
            [
                "run",
                str(out / "host.vmfb"),
                "--input",
                str(tmp_path / "x.npy"),
                "--output",
                str(tmp_path / "missing" / "y.npy"),
            ]
        )
    assert "--output: no directory" in capsys.readouterr().err


def test_pruned_model_compiles_to_sparse_kernels(checkpoint, tmp_path):
    from cadnn_jax import Unstructured, allocate, hard_prune, load_model
    from cadnn_jax.cli.compile import forward_fn

    model, _ = load_model(checkpoint)
    params = nnx.state(model, nnx.Param)
    pruned, _ = hard_prune(params, allocate(params, Unstructured(0.9)))
    nnx.update(model, pruned)
    save_model(tmp_path / "pruned", model, {"model": "small_cnn"})
    out = tmp_path / "iree"
    main(["compile", str(tmp_path / "pruned"), "--targets", "host", "--out", str(out)])
    report = json.loads((out / "compile.json").read_text())
    assert report["sparse"]
    assert report["layout"] == "nchw"  # channel-major inside, the input still NHWC
    # The default build went through the sparse pass, host-dense did not (on a model this small
    # the kernels' code outweighs the weights saved, so compare contents, not sizes).
    assert (out / "host.vmfb").read_bytes() != (out / "host-dense.vmfb").read_bytes()
    x = np.random.default_rng(2).random((1, 28, 28, 1), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    for name in ("host", "host-dense"):
        main(
            [
                "run",
                str(out / f"{name}.vmfb"),
                "--input",
                str(tmp_path / "x.npy"),
                "--output",
                str(tmp_path / f"{name}.npy"),
            ]
        )
        np.testing.assert_allclose(
            np.load(tmp_path / f"{name}.npy"),
            np.asarray(forward_fn(model)(x)),
            rtol=1e-4,
            atol=1e-5,
        )


def test_sparse_tiles_follow_the_target():
    """The host's sparse kernels get this CPU's tiles and the dense passes after them
    (`host_sparse`), arm64 the pass's defaults, Vulkan none; the host's dense build gets the
    dense passes alone."""
    from cadnn_jax.cli.compile import passes_for
    from lowering.passes import host_dense, host_sparse_tiles
    from lowering.passes._sparse_kernels import DEFAULT_TILES

    def tiles(target):
        sparse, *rest = passes_for(target, fold_bn=False, sparse=True, threshold=0.4)
        assert tuple(rest) == (host_dense() if target == "host" else ())
        assert sparse.keywords["threshold"] == 0.4
        return sparse.keywords.get("tiles", DEFAULT_TILES)

    assert tiles("host") == host_sparse_tiles()
    assert tiles("arm64") == DEFAULT_TILES
    assert tiles("vulkan") is None
    assert passes_for("host", fold_bn=False, sparse=False, threshold=0.4) == list(host_dense())
    assert passes_for("arm64", fold_bn=False, sparse=False, threshold=0.4) == []


def _write_idx(path: pathlib.Path, magic: int, array: np.ndarray) -> None:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def test_compile_rejects_more_check_images_than_the_test_split(checkpoint, tmp_path, capsys):
    """A dataset of 3 test images: --check 4 is rejected before anything is compiled (it used to
    check 3 and record 4)."""
    data = tmp_path / "fmnist"
    data.mkdir()
    _write_idx(data / "t10k-images-idx3-ubyte.gz", 0x803, np.zeros((3, 28, 28)))
    _write_idx(data / "t10k-labels-idx1-ubyte.gz", 0x801, np.zeros(3))
    out = tmp_path / "never"
    argv = ["compile", str(checkpoint), "--targets", "host", "--out", str(out)]
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--check", "4", "--data-dir", str(data)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--check must be at most the number of test images, 3, got 4" in err
    assert not out.exists()


def test_help_states_each_default_once(capsys):
    for command in ("compress", "compile", "run", "bench"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        for unset in ("None", "False", "", "[]"):
            assert f"(default: {unset})" not in text, (command, unset)
        if command == "compress":
            assert text.count("(default: runs/<model>)") == 1
        if command == "compile":
            assert text.count("(default: <checkpoint>-iree)") == 1
            assert "(default: $CADNN_FASHION_MNIST_DIR if set" in text
        if command == "bench":
            assert "Prints JSON" not in text


@pytest.fixture(scope="module")
def tiny_module(tmp_path_factory):
    """A host module of a two-output function of a float32[2]: compiles in about a second."""
    import jax

    path = tmp_path_factory.mktemp("tiny") / "tiny.vmfb"
    fn = jax.jit(lambda x: (2 * x, x + 1))
    lowering.compile_module(fn, "host", path, example_args=(np.zeros(2, np.float32),))
    return path


@pytest.fixture
def text_module(tmp_path):
    path = tmp_path / "text.vmfb"
    path.write_text("not a module\n")
    return path


@pytest.mark.parametrize("command", ["run", "bench"])
def test_a_file_that_is_not_a_module_is_named(text_module, tmp_path, capsys, command):
    np.save(tmp_path / "x.npy", np.zeros(2, np.float32))
    extra = ["--input", str(tmp_path / "x.npy")] if command == "run" else []
    with pytest.raises(SystemExit) as exc:
        main([command, str(text_module), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"module: '{text_module}' is not an IREE .vmfb module" in err


def _refuse_to_write(monkeypatch, directory):
    """os.access says ``directory`` is not writable (chmod does not stop root)."""
    real = os.access
    monkeypatch.setattr(
        os,
        "access",
        lambda p, mode, **kw: False if pathlib.Path(p) == directory else real(p, mode, **kw),
    )


@pytest.mark.parametrize(
    ("output", "match"),
    [
        ("{tmp}", "--output: '{tmp}' is a directory"),
        ("", "--output: give a file path, got ''"),
        ("{tmp}/ro/o.npy", "--output: cannot write '{tmp}/ro/o.npy': directory '{tmp}/ro' is not"),
    ],
)
def test_run_checks_its_output_before_running(
    tiny_module, tmp_path, capsys, monkeypatch, output, match
):
    (tmp_path / "ro").mkdir()
    _refuse_to_write(monkeypatch, tmp_path / "ro")
    np.save(tmp_path / "x.npy", np.zeros(2, np.float32))

    def no_run(*args, **kwargs):
        raise AssertionError("the module ran")

    monkeypatch.setattr(lowering, "run_module", no_run)
    output = output.replace("{tmp}", str(tmp_path))
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tiny_module), "--input", str(tmp_path / "x.npy"), "--output", output])
    assert exc.value.code == 2
    assert match.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ro", "x.npy"]


@pytest.mark.parametrize("content", ["text", "objects", "archive"])
def test_an_input_that_is_no_array_of_numbers_is_named(tiny_module, tmp_path, capsys, content):
    # NumPy's own messages did not say which flag, and for objects advised allow_pickle.
    path = tmp_path / "x.npy"
    if content == "text":
        path.write_text("1 2\n")
    elif content == "objects":
        np.save(path, np.array([{"a": 1}, None], dtype=object))
    else:
        with path.open("wb") as f:
            np.savez(f, x=np.zeros(2, np.float32))
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tiny_module), "--input", str(path), "--output", str(tmp_path / "y")])
    assert exc.value.code == 2
    assert f"--input: '{path}' is " in capsys.readouterr().err
    assert not (tmp_path / "y.npy").exists()


def test_a_module_of_another_target_is_named(tiny_module, tmp_path, capsys):
    # The runtime's refusal was several KB of the module's CPU features.
    np.save(tmp_path / "x.npy", np.zeros(2, np.float32))
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tiny_module), "--input", str(tmp_path / "x.npy"), "--target", "arm64"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"--target arm64 cannot run '{tiny_module}': it was compiled for llvm-cpu" in err
    assert "(embedded-elf-x86_64); give the --target it was compiled for" in err
    assert len(err) < 400


def test_run_prints_the_paths_it_writes(tiny_module, tmp_path, capsys):
    """np.save appends .npy to a name without it: the printed names are the written ones."""
    np.save(tmp_path / "x.npy", np.array([1, 2], np.float32))
    out = tmp_path / "y"
    main(["run", str(tiny_module), "--input", str(tmp_path / "x.npy"), "--output", str(out)])
    printed = re.findall(r"wrote (\S+) ", capsys.readouterr().out)
    assert printed == [f"{out}-0.npy", f"{out}-1.npy"]
    np.testing.assert_array_equal(np.load(printed[0]), [2, 4])
    np.testing.assert_array_equal(np.load(printed[1]), [2, 3])


@pytest.mark.parametrize(
    ("out", "match"),
    [
        ("{tmp}", "--out: '{tmp}' is a directory"),
        ("{tmp}/ro/b.json", "--out: cannot write '{tmp}/ro/b.json': directory '{tmp}/ro' is not"),
        ("{tmp}/file/d/b.json", "--out: cannot write '{tmp}/file/d/b.json': '{tmp}/file' is a"),
    ],
)
def test_bench_checks_its_out_before_benchmarking(
    tiny_module, tmp_path, capsys, monkeypatch, out, match
):
    (tmp_path / "ro").mkdir()
    (tmp_path / "file").write_text("")
    _refuse_to_write(monkeypatch, tmp_path / "ro")

    def no_bench(*args, **kwargs):
        raise AssertionError("benchmarked")

    monkeypatch.setattr(lowering, "benchmark_module", no_bench)
    with pytest.raises(SystemExit) as exc:
        main(["bench", str(tiny_module), "--out", out.replace("{tmp}", str(tmp_path))])
    assert exc.value.code == 2
    assert match.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


def test_bench_creates_the_directory_of_its_out(tiny_module, tmp_path):
    out = tmp_path / "new" / "d" / "b.json"
    argv = ["bench", str(tiny_module), "--devices", "local-sync", "--rounds", "1"]
    main([*argv, "--repetitions", "1", "--out", str(out)])
    assert json.loads(out.read_text())["engines"]["tiny/iree-local-sync"]["samples"] >= 1
