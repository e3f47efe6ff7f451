"""Export parity over the registry: every distinct tiny build exports to each format and the
artifact, run in its own runtime, matches Keras. A format a model cannot use is a declared
limitation in its registry entry (shown as 'limited'), never a skip here.

Variants whose tiny builds are identical (`conformance.distinct_tiny_configs`) are exported once.
The SavedModel's XLA signature is verified per format in tests/test_export_formats.py and by
`deepzoo check`; here it is left out to keep the registry-wide sweep within the suite's budget.
"""

import pytest

from deepzoo import conformance


@pytest.mark.parametrize("name", conformance.distinct_tiny_configs())
def test_export_parity(name, tmp_path):
    results = conformance.check_model(
        name, ("build",) + conformance.EXPORT_FORMATS, workdir=tmp_path, export_options={"xla_endpoint": False}
    )
    failures = {c: r.detail for c, r in results.items() if r.status == "fail"}
    assert not failures, failures
