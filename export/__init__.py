"""Export a saved Keras model to SavedModel, ONNX and TFLite, each verified in its own runtime.

    from export import export_model
    report = export_model("runs/lenet5-digits/model.keras", "runs/lenet5-digits/export", formats="all",
                          sample_inputs=x_test[:32])

Works from a `.keras` file (never from architecture code): the model's classes must be importable,
which the caller arranges by importing `architectures` (the CLI does).
"""

from export.formats import FORMATS, ExportResult, export_model, read_metadata  # noqa: F401
