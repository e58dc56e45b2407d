"""LiteRT worker: converts a `jax.export` artifact to `.tflite` and times it with XNNPACK.

TensorFlow (for `jax2tf` and the TFLite converter) cannot share the project's environment, so this
script runs under a separate Python that has `tensorflow-cpu`, `ai-edge-litert` and the same
`jax` version (to deserialize the artifact); it imports nothing from this repository.

Protocol: after converting and loading it prints one JSON line, `{"ready": ..., "ops": ...,
"output": ...}` or `{"error": ...}`; then for each `{"calls": n}` line on stdin it runs the model
`n` times and prints `{"ms": per_call}`; end of input stops it. Everything else the libraries
print goes to stderr.

    python _litert_worker.py --exported m.jaxexport --input x.npy --tflite m.tflite --threads 2
"""

import argparse
import collections
import json
import os
import sys
import time
import traceback


def _protocol_stream():
    # TensorFlow and LiteRT log to stdout as well; keep the real stdout for the protocol only.
    fd = os.dup(1)
    os.dup2(2, 1)
    return os.fdopen(fd, "w", buffering=1)


def _convert(exported_path: str, input_shape: tuple[int, ...], out_path: str) -> bytes:
    import jax
    import tensorflow as tf
    from jax.experimental import jax2tf

    with open(exported_path, "rb") as f:
        exported = jax.export.deserialize(bytearray(f.read()))
    tf_fn = tf.function(
        jax2tf.convert(exported.call, with_gradient=False),
        autograph=False,
        input_signature=[tf.TensorSpec(input_shape, tf.float32)],
    )
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [tf_fn.get_concrete_function()], tf_fn
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    flatbuffer = converter.convert()
    with open(out_path, "wb") as f:
        f.write(flatbuffer)
    return flatbuffer


def _op_counts(flatbuffer: bytes) -> dict[str, int]:
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(flatbuffer, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    counts = collections.Counter(
        names.get(model.operatorCodes[op.opcodeIndex].builtinCode, "CUSTOM")
        for graph in model.subgraphs
        for op in graph.operators
    )
    return dict(counts.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--exported", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--tflite", required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    out = _protocol_stream()
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        x = np.load(args.input)
        start = time.perf_counter()
        flatbuffer = _convert(args.exported, x.shape, args.tflite)
        convert_s = time.perf_counter() - start
        interpreter = Interpreter(model_path=args.tflite, num_threads=args.threads)
        interpreter.allocate_tensors()
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        output_path = args.tflite + ".output.npy"
        np.save(output_path, interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
        import ai_edge_litert
        import tensorflow as tf

        ready = {
            "ready": True,
            "convert_s": convert_s,
            "ops": _op_counts(flatbuffer),
            "output": output_path,
            "tflite_bytes": len(flatbuffer),
            "tensorflow": tf.__version__,
            "ai_edge_litert": getattr(ai_edge_litert, "__version__", "unknown"),
        }
        print(json.dumps(ready), file=out)
    except Exception as e:  # reported to the harness as data
        print(
            json.dumps({"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}),
            file=out,
        )
        return
    for line in sys.stdin:
        calls = int(json.loads(line)["calls"])
        start = time.perf_counter()
        for _ in range(calls):
            interpreter.invoke()
        print(json.dumps({"ms": 1e3 * (time.perf_counter() - start) / calls}), file=out)


if __name__ == "__main__":
    main()
