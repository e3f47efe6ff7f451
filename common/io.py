"""Atomic file writes: a reader never sees a half-written file under its final name."""

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(final_path, suffix=""):
    """Yields a temporary path beside `final_path`; renames it into place only on success.

    Works for files and directories. On any exception (or KeyboardInterrupt) the temporary is
    removed and `final_path` is left exactly as it was.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{final_path.name}.", suffix=".tmp", dir=final_path.parent))
    tmp_path = tmp_dir / (final_path.name + suffix)
    try:
        yield tmp_path
        if final_path.is_dir() and not final_path.is_symlink():
            shutil.rmtree(final_path)
        os.replace(tmp_path, final_path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text_atomic(path, text):
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_json_atomic(path, data):
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(value):
    # numpy scalars and arrays appear in metrics; tuples are already handled by json.
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"Cannot serialise {type(value).__name__} to JSON. Received: {value!r}")
