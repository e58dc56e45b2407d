"""The compiler driver: StableHLO -> linalg IR -> our passes -> `.vmfb`, by running `iree-compile`.

`iree-compile --compile-to=input` lowers StableHLO to linalg on tensors with the weights as
`arith.constant`s; our passes (`lowering.passes`) rewrite that IR in Python through
`iree.compiler.ir`; `iree-compile --compile-from=input` finishes for the chosen target. Without
passes one invocation does it all. The flags come from `lowering.targets.compile_flags`, which is
pure; this module only runs the tool and reports its failures.

A failure raises `CompileError` carrying the tool, exit code, command line, the compiler's
diagnostics and the path of the saved input that reproduces it.
"""

import dataclasses
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from iree.compiler import ir

from lowering.export import export_stablehlo
from lowering.targets import CompileOptions, Target, compile_flags, get_target
from lowering.tools import find_tool

__all__ = [
    "CompileError",
    "CompiledModule",
    "ModulePass",
    "TextPass",
    "apply_passes",
    "compile_module",
    "compile_to_input",
    "default_reproducer_dir",
]

# A pass rewrites in place; what it returns (our passes: the number of sites) is ignored.
ModulePass = Callable[[ir.Module], object]
"""A pass that rewrites a parsed module in place."""


@dataclasses.dataclass(frozen=True)
class TextPass:
    """A pass that maps MLIR text to MLIR text, for rewrites easier done on the text."""

    fn: Callable[[str], str]
    name: str = "text pass"


Pass = ModulePass | TextPass
Source = Callable[..., Any] | str | bytes | Path
"""A JAX function (with `example_args`), MLIR text, MLIR bytecode, or the path of a file."""


class CompileError(RuntimeError):
    """`iree-compile` (or one of our passes) failed.

    Attributes:
      tool: what failed: `"iree-compile"`, or the name of a pass.
      returncode: the tool's exit code (`None` for a pass).
      command: the full command line, with the reproducer as its input.
      diagnostics: the compiler's stderr, or the pass's exception.
      reproducer: the saved input that reproduces the failure.
    """

    def __init__(
        self,
        tool: str,
        returncode: int | None,
        command: Sequence[str],
        diagnostics: str,
        reproducer: Path,
    ) -> None:
        self.tool = tool
        self.returncode = returncode
        self.command = list(command)
        self.diagnostics = diagnostics
        self.reproducer = reproducer
        status = "" if returncode is None else f" (exit code {returncode})"
        super().__init__(
            f"{tool} failed{status}\n"
            f"command: {' '.join(self.command)}\n"
            f"reproducer saved to: {reproducer}\n"
            f"diagnostics:\n{diagnostics.strip()}"
        )


@dataclasses.dataclass(frozen=True)
class CompiledModule:
    """A compiled `.vmfb` and how it was made.

    Attributes:
      path: the module file.
      target: the target it was compiled for.
      flags: the `iree-compile` flags of the final phase (without paths).
      compile_seconds: wall time of all phases and passes.
    """

    path: Path
    target: Target
    flags: tuple[str, ...]
    compile_seconds: float

    @property
    def size_bytes(self) -> int:
        """Size of the module file."""
        return self.path.stat().st_size


def default_reproducer_dir() -> Path:
    """Where failing inputs are saved when no directory is given: `<tmp>/cadnn-lowering`."""
    return Path(tempfile.gettempdir()) / "cadnn-lowering"


def _check_source(source: Source) -> None:
    """Raises TypeError for a `source` of no kind `compile_module` takes, and ValueError for
    a string with no MLIR in it (a path given as `str`, which `iree-compile` would fail to
    parse)."""
    if isinstance(source, str) and "{" not in source:
        raise ValueError(
            f"source is a str with no MLIR in it ({source!r:.80}); give a file as "
            "pathlib.Path(...), or MLIR text"
        )
    if not (isinstance(source, Path | str | bytes) or callable(source)):
        raise TypeError(f"source must be a function, MLIR text/bytecode or a Path, got {source!r}")


def _as_mlir(source: Source, example_args: Sequence[Any]) -> str | bytes:
    _check_source(source)
    if isinstance(source, Path):
        return source.read_bytes() if source.suffix == ".mlirbc" else source.read_text()
    if isinstance(source, str | bytes):
        return source
    # A JAX function. An array would be spread along its first axis into one argument a row.
    if not isinstance(example_args, tuple | list):
        raise TypeError(
            f"example_args must be a tuple of arguments, got {type(example_args).__name__}; "
            "write one array as (x,)"
        )
    if not example_args:
        raise ValueError("example_args is required when source is a JAX function")
    return export_stablehlo(source, *example_args)


def _reproducer_dir(reproducer_dir: Path | None) -> Path:
    """`reproducer_dir`, or the default; checked up front, since a failure to save a
    reproducer would hide the failure it reproduces."""
    directory = default_reproducer_dir() if reproducer_dir is None else Path(reproducer_dir)
    if directory.exists() and not directory.is_dir():
        raise ValueError(f"reproducer_dir must be a directory, got the file {str(directory)!r}")
    return directory


def _checked_passes(passes: Sequence[Pass]) -> tuple[Pass, ...]:
    """`passes` as a tuple, once each is known to be a pass."""
    if callable(passes) or isinstance(passes, TextPass):
        name = getattr(passes, "__name__", repr(passes))
        raise TypeError(
            "passes must be a sequence of passes, such as [fold_batch_norm] or host_sparse() "
            f"(which returns one), got the function {name}"
        )
    passes = tuple(passes)
    for i, p in enumerate(passes):
        if not (isinstance(p, TextPass) or callable(p)):
            raise TypeError(
                f"passes[{i}] must be a function of an ir.Module or a TextPass, got {p!r}"
            )
    return passes


def _save(mlir: str | bytes, directory: Path, stem: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    suffix = ".mlirbc" if isinstance(mlir, bytes) else ".mlir"
    path = directory / f"{stem}-{uuid.uuid4().hex[:8]}{suffix}"
    if isinstance(mlir, bytes):
        path.write_bytes(mlir)
    else:
        path.write_text(mlir)
    return path


def _run_compiler(
    mlir: str | bytes, flags: Sequence[str], output: Path, reproducer_dir: Path, stem: str
) -> None:
    tool = find_tool("iree-compile")
    with tempfile.TemporaryDirectory(prefix="cadnn-compile-") as tmp:
        input_path = _save(mlir, Path(tmp), stem)
        command = [str(tool), str(input_path), *flags, "-o", str(output)]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            reproducer = _save(mlir, reproducer_dir, stem)
            command[1] = str(reproducer)
            raise CompileError("iree-compile", proc.returncode, command, proc.stderr, reproducer)


def compile_to_input(
    source: Source,
    *,
    example_args: Sequence[Any] = (),
    target: str | Target = "host",
    options: CompileOptions | None = None,
    reproducer_dir: Path | None = None,
) -> str:
    """Runs the first phase: StableHLO -> linalg on tensors (`iree-compile --compile-to=input`).

    Args:
      source: see `Source`.
      example_args: the example arguments when `source` is a JAX function.
      target: the target the module is for (the flags are given to every phase).
      options: target-independent compiler choices; the defaults if `None`.
      reproducer_dir: where a failing input is saved; `default_reproducer_dir()` if `None`.

    Returns:
      The linalg IR as MLIR text.

    Raises:
      CompileError: the compiler failed.
      TypeError: `example_args` is not a tuple or list.
      ValueError: `reproducer_dir` is a file.
    """
    directory = _reproducer_dir(reproducer_dir)
    mlir = _as_mlir(source, example_args)
    with tempfile.TemporaryDirectory(prefix="cadnn-compile-") as tmp:
        output = Path(tmp) / "input.mlir"
        flags = [*compile_flags(target, options), "--compile-to=input"]
        _run_compiler(mlir, flags, output, directory, "stablehlo")
        return output.read_text()


def apply_passes(mlir: str, passes: Sequence[Pass], *, reproducer_dir: Path | None = None) -> str:
    """Applies `passes` in order to MLIR text and returns the rewritten text.

    Module passes share one parse; the module is verified after each of them.

    Raises:
      CompileError: a pass raised or left the module invalid (or a `TextPass` returned no
        text); the IR it was given is saved.
      TypeError: `passes` is one pass rather than a sequence, or holds something else.
      ValueError: `reproducer_dir` is a file.
    """
    passes = _checked_passes(passes)
    directory = _reproducer_dir(reproducer_dir)
    text = mlir
    for p in passes:
        name = p.name if isinstance(p, TextPass) else getattr(p, "__name__", repr(p))
        try:
            if isinstance(p, TextPass):
                result = p.fn(text)
                if not isinstance(result, str):
                    raise TypeError(f"a TextPass must return MLIR text, got {result!r:.80}")
                text = result
            else:
                with ir.Context():
                    module = ir.Module.parse(text)
                    p(module)
                    if not module.operation.verify():
                        raise ValueError("the module does not verify after the pass")
                    text = str(module)
        except Exception as e:
            reproducer = _save(text, directory, "before-pass")
            raise CompileError(name, None, ["python pass", name], repr(e), reproducer) from e
    return text


def compile_module(
    source: Source,
    target: str | Target,
    out_path: str | Path,
    *,
    example_args: Sequence[Any] = (),
    passes: Sequence[Pass] = (),
    options: CompileOptions | None = None,
    reproducer_dir: Path | None = None,
) -> CompiledModule:
    """Compiles a JAX function or StableHLO module into a `.vmfb` for `target`.

    Args:
      source: see `Source`.
      target: a target name from `lowering.targets.TARGETS`, or a `Target`.
      out_path: where the `.vmfb` is written.
      example_args: the example arguments when `source` is a JAX function.
      passes: rewrites of the linalg IR applied between the two phases, in order; with none,
        one compiler invocation does everything.
      options: target-independent compiler choices; the defaults if `None`.
      reproducer_dir: where a failing input is saved; `default_reproducer_dir()` if `None`.

    Returns:
      The compiled module's path, target, flags and compile time.

    Raises:
      ValueError: an unknown target name, an `out_path` that is a directory or lies under a
        file, or a `reproducer_dir` that is a file.
      TypeError: `example_args` is not a tuple or list, or `passes` is not a sequence of
        passes.
      CompileError: the compiler or a pass failed.
      ToolNotFoundError: `iree-compile` is not installed.
    """
    t = get_target(target)
    out = Path(out_path)
    # Checked before compiling: `iree-compile` would fail only once it writes, at the end.
    if out.is_dir():
        raise ValueError(f"out_path must be a file path, got the directory {str(out)!r}")
    blocking = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise ValueError(f"out_path {str(out)!r} lies under {str(blocking)!r}, which is a file")
    _check_source(source)
    passes = _checked_passes(passes)
    directory = _reproducer_dir(reproducer_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    flags = compile_flags(t, options)
    if passes:
        linalg = compile_to_input(
            source,
            example_args=example_args,
            target=t,
            options=options,
            reproducer_dir=directory,
        )
        linalg = apply_passes(linalg, passes, reproducer_dir=directory)
        final_flags = [*flags, "--compile-from=input"]
        _run_compiler(linalg, final_flags, out, directory, "linalg")
    else:
        final_flags = flags
        _run_compiler(_as_mlir(source, example_args), flags, out, directory, "stablehlo")
    return CompiledModule(out, t, tuple(final_flags), time.perf_counter() - start)
