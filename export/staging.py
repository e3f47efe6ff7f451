"""Atomic publishing of an export directory.

Artifacts are written and verified in a staging folder beside the export directory (a hidden
`.NAME.staging-*` that model repositories ignore) and then published:

- a new export directory appears complete, metadata included, with one `rename`;
- into an existing one, each artifact is replaced in a single `rename` (`os.replace`); a
  SavedModel, which is a file plus folders, first loses its `saved_model.pb` and gets the new one
  last, so a reader never pairs a `.pb` with another export's variables;
- `deepzoo.json` is replaced last.

An exception or KeyboardInterrupt at any point leaves every artifact either as it was or absent,
never half-written, and the staging folder is removed on the way out.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

from deepzoo.io import write_json_atomic

METADATA_FILE = "deepzoo.json"


class ExportStaging:
    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.root = None
        self._added = {}  # format name -> (ExportFormat, staged folder)
        self._removed = {}  # format name -> ExportFormat whose old artifact must go

    def __enter__(self):
        self.out_dir.parent.mkdir(parents=True, exist_ok=True)
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise NotADirectoryError(f"Export directory is a file. Received: {self.out_dir}")
        self.root = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}.staging-", dir=self.out_dir.parent))
        (self.root / "work").mkdir()
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.root, ignore_errors=True)
        return False

    @property
    def workdir(self):
        return self.root / "work"

    def format_dir(self, name):
        path = self.root / "formats" / name
        if path.exists():
            shutil.rmtree(path)
        path.mkdir(parents=True)
        return path

    def add(self, fmt, staged_dir):
        self._added[fmt.name] = (fmt, Path(staged_dir))
        self._removed.pop(fmt.name, None)

    def remove(self, fmt):
        self._added.pop(fmt.name, None)
        self._removed[fmt.name] = fmt

    def publish(self, make_metadata):
        """Publishes the added artifacts and `make_metadata(existing_metadata) -> dict` as deepzoo.json."""
        if not self.out_dir.exists():
            assembled = self.root / "assembled"
            assembled.mkdir()
            for fmt, staged in self._added.values():
                for entry in _entries(fmt, staged):
                    os.replace(staged / entry, assembled / entry)
            write_json_atomic(assembled / METADATA_FILE, make_metadata({}))
            os.rename(assembled, self.out_dir)
            return
        existing = _read_existing(self.out_dir)
        for fmt in self._removed.values():
            _unpublish(fmt, self.out_dir)
        for fmt, staged in self._added.values():
            _replace(fmt, staged, self.out_dir, self.root)
        # Keep metadata only for artifacts that are on disk.
        artifacts = existing.get("artifacts", {})
        existing["artifacts"] = {
            name: info for name, info in artifacts.items()
            if isinstance(info, dict) and info.get("path") and (self.out_dir / info["path"]).is_file()
        }
        write_json_atomic(self.out_dir / METADATA_FILE, make_metadata(existing))


def _entries(fmt, staged):
    """The artifact's entries in publishing order: companions first, the main file last."""
    return [c for c in fmt.companions if (staged / c).exists()] + [fmt.filename]


def _replace(fmt, staged, out_dir, scratch):
    main = out_dir / fmt.filename
    if fmt.companions and main.exists():
        main.unlink()  # the old .pb goes first: until the new one lands, there is no SavedModel
    for companion in fmt.companions:
        source, target = staged / companion, out_dir / companion
        if target.is_dir() and not target.is_symlink():
            os.rename(target, Path(tempfile.mkdtemp(dir=scratch)) / companion)
        elif target.exists():
            target.unlink()
        if source.exists():
            os.replace(source, target)
    os.replace(staged / fmt.filename, main)


def _unpublish(fmt, out_dir):
    main = out_dir / fmt.filename
    if main.exists():
        main.unlink()
    for companion in fmt.companions:
        target = out_dir / companion
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def _read_existing(out_dir):
    path = out_dir / METADATA_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError:
        return {}  # unreadable metadata is replaced, not trusted
    return data if isinstance(data, dict) else {}
