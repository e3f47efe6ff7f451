"""The examples/ pipeline script runs, using only the public API."""

import importlib.util
from pathlib import Path


def test_digits_end_to_end_example(tmp_path):
    path = Path(__file__).parents[1] / "examples" / "digits_end_to_end.py"
    spec = importlib.util.spec_from_file_location("digits_end_to_end", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    result, exports = module.main(epochs=2, out=str(tmp_path / "run"), max_examples=400)
    assert (tmp_path / "run" / "model.keras").is_file()
    assert all(e.verified for e in exports)
