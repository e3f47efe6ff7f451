"""Serving: exported models behind the Open Inference Protocol (KServe v2) and the TensorFlow Serving
REST API, from a model repository folder alone.

    deepzoo serve models/ --port 8000

    from serving import ModelConfig, load_repository, create_app, serve
    repository = load_repository("models/", ModelConfig(max_batch_size=16))
    serve(repository, port=8000)

`models/<name>/<version>/` holds what `deepzoo export` writes (model.onnx, model.tflite,
saved_model.pb + variables/, deepzoo.json); `models/<name>/serving.json` optionally sets the
runtime and batching of one model. This package reads artifacts and metadata only: it never
imports `architectures`, `pipelines` or `export`.
"""

from serving.app import ServerSettings, create_app  # noqa: F401
from serving.logs import configure_logging  # noqa: F401
from serving.repository import ModelConfig, load_repository  # noqa: F401
from serving.server import serve  # noqa: F401
