"""Export a saved Keras model to SavedModel, ONNX and TFLite (fp32, fp16, dynamic-range int8,
full-integer int8), each verified in its own runtime, published atomically.

    from export import export_model, export_run
    report = export_model("runs/lenet5-digits/model.keras", "runs/lenet5-digits/export", formats="all",
                          sample_inputs=x_test, targets=y_test)
    export_run("runs/lenet5-digits", formats=["onnx", "tflite_int8"])        # verified on the run's test split
    export_to_repository("runs/lenet5-digits", "models", name="digits")       # models/digits/1/..., config.pbtxt

What is exported is the endpoint (`tasks.get_task(task).export_endpoint(model)`, which `export_run`
obtains for a run): named `keras.Input`s of any dtype in, a tensor or a dict of named outputs out.
Every artifact, `deepzoo.json` and `load_artifact`'s predictor keep those names (see
`export/context.py`); verification compares every output the way the task says (`export/verify.py`).

Works from a `.keras` file (never from architecture code): the model's classes must be importable,
which the caller arranges by importing `architectures` (the CLI does).
"""

from export.formats import FORMATS, ExportResult, export_model, load_artifact, read_metadata  # noqa: F401
from export.repository import export_to_repository  # noqa: F401
from export.run_export import export_run  # noqa: F401
