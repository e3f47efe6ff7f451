"""The demo end to end at reduced size: trains, evaluates, exports all formats, verifies each."""

from deepzoo.demo import run_demo
from export import FORMATS


def test_demo_reduced(tmp_path):
    lines = []
    report = run_demo(out_root=tmp_path, epochs=3, max_examples=500, jit="off", print_fn=lines.append)
    assert report["ok"], "\n".join(lines)
    assert {r.format for r in report["exports"]} == set(FORMATS)
    assert all(r.verified for r in report["exports"])
    assert report["metrics"]["accuracy"] > 0.5  # 3 epochs on 400 training digits; the full demo reaches ≥ 0.95
    assert any("hold-out accuracy" in line for line in lines)
    assert (report["run_dir"] / "export" / "deepzoo.json").is_file()
