"""What every format writer shares: the tensor names, the serving function, the Keras export
archive, and an `ExportContext` that carries the model, options and calibration data of one export."""

import dataclasses
from pathlib import Path

import numpy as np

INPUT_NAME = "input"
OUTPUT_NAME = "output"


def input_spec(model):
    import tensorflow as tf

    shape = (None, *model.inputs[0].shape[1:])
    return tf.TensorSpec(shape, tf.float32, name=INPUT_NAME)


def serving_function(model, jit_compile=False):
    """`{"output": model(input)}` as a tf.function over a free batch dimension."""
    import tensorflow as tf

    def serve(input):  # the argument name becomes the signature's input key
        outputs = model(input, training=False)
        if isinstance(outputs, dict):
            outputs = list(outputs.values())
        if isinstance(outputs, (list, tuple)):
            outputs = outputs[0]
        return {OUTPUT_NAME: outputs}

    return tf.function(serve, input_signature=[input_spec(model)], autograph=False, jit_compile=jit_compile or None)


def export_archive(model, xla_endpoint):
    """A Keras ExportArchive with the `serving_default` signature (and `serving_xla` if asked).

    ExportArchive tracks the model's variables properly; a plain `tf.saved_model.save` of a Keras 3
    model leaves them unfrozen and the TFLite converter then emits uninitialised READ_VARIABLEs.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serving_default", serving_function(model))
    if xla_endpoint:
        # The same function compiled with XLA: the GPU hot path.
        archive.add_endpoint("serving_xla", serving_function(model, jit_compile=True))
    return archive


@dataclasses.dataclass
class ExportContext:
    """One export: the model, its options, representative inputs, and a private work folder."""

    model: object
    workdir: Path
    options: dict
    calibration_inputs: np.ndarray
    calibration_source: str | None = None
    _tflite_source: Path | None = None

    @property
    def calibration_count(self):
        limit = int(self.options.get("calibration_samples") or len(self.calibration_inputs))
        return min(limit, len(self.calibration_inputs))

    def tflite_source(self):
        """A SavedModel with `serving_default` only, written once per export for every TFLite variant.

        Converting from a SavedModel keeps the dynamic batch dimension working in LiteRT's signature
        runner (a converted concrete function gave NaNs after resizing the batch).
        """
        if self._tflite_source is None:
            path = Path(self.workdir) / "tflite-source"
            export_archive(self.model, xla_endpoint=False).write_out(str(path), verbose=False)
            self._tflite_source = path
        return self._tflite_source
