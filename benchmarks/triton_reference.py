"""Triton Inference Server as a reference, serving an ONNX model: run with the Python of a venv that
has `nvidia-pytriton` (it ships tritonserver 2.x) and `onnxruntime`; never imported by deepzoo.

    REFERENCE_PYTHON benchmarks/triton_reference.py MODEL.onnx HTTP_PORT GRPC_PORT METRICS_PORT MAX_BATCH
    REFERENCE_PYTHON benchmarks/triton_reference.py --patch     # once, see below

pytriton binds a Python callable through Triton's Python backend (it ships no ONNX Runtime
backend), so the model runs as `session.run` in the backend's stub process, with Triton's own HTTP
and gRPC front ends, dynamic batcher and scheduler in front: Triton's request path and a Python
model, which is what this reference measures.

`--patch`: Triton's python_backend stub for 3.11 embeds an older CPython 3.11 whose C RLock has no
`_recursion_count`, while it loads the host's 3.11.7 `multiprocessing`, which calls it; the model
then fails to load ("'_thread.RLock' object has no attribute '_recursion_count'"). The patch gives
multiprocessing's resource tracker a pure-Python RLock inside pytriton's proxy model (idempotent).
"""

import sys

PATCH_MARK = "deepzoo benchmark patch"
PATCH = f'''# {PATCH_MARK}: the python-backend stub embeds an older CPython 3.11 whose C RLock lacks
# _recursion_count, while loading the host's 3.11.7 multiprocessing; use a pure-Python RLock there.
import threading as _threading
import multiprocessing.resource_tracker as _resource_tracker
if not hasattr(_resource_tracker._resource_tracker._lock, "_recursion_count"):
    _resource_tracker._resource_tracker._lock = _threading._PyRLock()
'''


def patch():
    import importlib.util

    path = importlib.util.find_spec("pytriton").submodule_search_locations[0] + "/proxy/model.py"  # not importable outside the stub
    text = open(path).read()
    if PATCH_MARK not in text:
        first_import = text.index("\nimport ") + 1
        with open(path, "w") as file:
            file.write(text[:first_import] + PATCH + text[first_import:])
    print(f"patched {path}")


def serve(model_path, http_port, grpc_port, metrics_port, max_batch):
    import numpy as np
    import onnxruntime as ort
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    shape = tuple(int(d) for d in session.get_inputs()[0].shape[1:])

    @batch
    def infer(input):
        return {"output": session.run(["output"], {"input": input})[0]}

    config = TritonConfig(http_port=http_port, grpc_port=grpc_port, metrics_port=metrics_port, log_verbose=0)
    with Triton(config=config) as triton:
        triton.bind(
            model_name="model",
            infer_func=infer,
            inputs=[Tensor(name="input", dtype=np.float32, shape=shape)],
            outputs=[Tensor(name="output", dtype=np.float32, shape=(-1,))],
            config=ModelConfig(max_batch_size=max_batch, batcher=DynamicBatcher(max_queue_delay_microseconds=0)),
            strict=False,
        )
        triton.serve()


if __name__ == "__main__":
    if sys.argv[1:] == ["--patch"]:
        patch()
    else:
        model, http_port, grpc_port, metrics_port, max_batch = sys.argv[1:6]
        serve(model, int(http_port), int(grpc_port), int(metrics_port), int(max_batch))
