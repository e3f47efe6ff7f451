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

A process killed outright (SIGKILL, out of memory, power loss) cannot remove its staging folder.
Each is named `.NAME.staging-<pid>-<random>`, and the next export into the same folder removes
the stale ones: those whose owning process is gone (or whose pid now belongs to a process that
started after the folder was last written), and unowned ones from before this process started.
A live export's staging folder is never touched. Model repositories never serve hidden folders.
"""

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

from common.io import write_json_atomic, write_text_atomic

METADATA_FILE = "deepzoo.json"
STAGING_MARK = ".staging-"
_OWNER = re.compile(r"\.staging-(\d+)-")
_ACTIVE = set()  # staging folders of exports running in this process


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
        remove_stale_staging(self.out_dir.parent)
        self.root = Path(tempfile.mkdtemp(prefix=f".{self.out_dir.name}{STAGING_MARK}{os.getpid()}-", dir=self.out_dir.parent))
        _ACTIVE.add(self.root.resolve())
        (self.root / "work").mkdir()
        return self

    def __exit__(self, *exc_info):
        shutil.rmtree(self.root, ignore_errors=True)
        _ACTIVE.discard(self.root.resolve())
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

    def publish(self, make_metadata, assets=None):
        """Publishes the added artifacts, the `assets` ({file name: text}, written beside them)
        and `make_metadata(existing_metadata) -> dict` as deepzoo.json."""
        assets = assets if self._added else {}
        if not self.out_dir.exists():
            assembled = self.root / "assembled"
            assembled.mkdir()
            for fmt, staged in self._added.values():
                for entry in _entries(fmt, staged):
                    os.replace(staged / entry, assembled / entry)
            for name, text in assets.items():
                write_text_atomic(assembled / name, text)
            write_json_atomic(assembled / METADATA_FILE, make_metadata({}))
            os.rename(assembled, self.out_dir)
            return
        existing = _read_existing(self.out_dir)
        for fmt in self._removed.values():
            _unpublish(fmt, self.out_dir)
        for fmt, staged in self._added.values():
            _replace(fmt, staged, self.out_dir, self.root)
        for name, text in assets.items():
            write_text_atomic(self.out_dir / name, text)
        # Keep metadata only for artifacts that are on disk.
        artifacts = existing.get("artifacts", {})
        existing["artifacts"] = {
            name: info for name, info in artifacts.items()
            if isinstance(info, dict) and info.get("path") and (self.out_dir / info["path"]).is_file()
        }
        write_json_atomic(self.out_dir / METADATA_FILE, make_metadata(existing))


def is_staging_folder(path):
    """Whether `path` is named like an export's staging folder (hidden, `.staging-` in its name)."""
    name = Path(path).name
    return name.startswith(".") and STAGING_MARK in name


def remove_stale_staging(folder):
    """Removes the stale staging folders in `folder` (see the module docstring). Returns their paths."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if is_staging_folder(entry) and entry.is_dir() and not entry.is_symlink() and _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _is_stale(path):
    try:
        written = path.stat().st_mtime
    except OSError:
        return False  # gone already
    match = _OWNER.search(path.name)
    if match is None:  # unowned (written before staging folders named their owner)
        started = _process_start(os.getpid())
        return started is not None and written < started
    pid = int(match.group(1))
    if pid == os.getpid():
        return path.resolve() not in _ACTIVE
    if not _pid_alive(pid):
        return True
    started = _process_start(pid)
    # A pid is reused: a process that started after the folder was last written is not its owner.
    return started is not None and started > written + 1.0


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True


def _process_start(pid):
    """When process `pid` started (seconds since the epoch), from /proc; None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat[stat.rindex(")") + 2 :].split()[19])  # field 22, starttime, after the command name
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


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
