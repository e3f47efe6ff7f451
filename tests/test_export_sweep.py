"""Export parity over the registry: every model's tiny config exports to each format and the
artifact, run in its own runtime, matches Keras. A format a model cannot use is a declared
limitation in its registry entry (shown as 'limited'), never a skip here."""

import pytest

import architectures
from deepzoo import conformance


@pytest.mark.parametrize("name", architectures.list_models())
def test_export_parity(name, tmp_path):
    results = conformance.check_model(name, ("build",) + conformance.EXPORT_FORMATS, workdir=tmp_path)
    failures = {c: r.detail for c, r in results.items() if r.status == "fail"}
    assert not failures, failures
