"""`deepzoo tune` bad input: one line on stderr and exit status 2, before any training."""

import pytest

from deepzoo.cli import main

BASE = ["tune", "lenet5", "--data", "digits", "--tiny", "--max-examples", "60", "--epochs", "1"]


@pytest.fixture(autouse=True)
def _no_kerastuner_environment(monkeypatch):
    for name in ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["tune", "no_such_model"], "Unknown model 'no_such_model'"),
        (BASE + ["--cv", "fivefold"], "Unknown validation scheme"),
        (BASE + ["--cv", "holdout:1.5"], "holdout fraction must be in (0, 1)"),
        (BASE + ["--max-trials", "0"], "--max-trials must be a positive integer"),
        (BASE + ["--epochs", "0"], "--epochs must be a positive integer"),
        (BASE + ["--space", "/no/such/space.yaml"], "--space file not found"),
        (BASE + ["--distributed"], "distributed search needs KERASTUNER_TUNER_ID"),
        (BASE + ["--workers", "2", "--nested", "3"], "Nested cross-validation runs locally"),
        (BASE + ["--nested", "1"], "nested must be at least 2"),
        (BASE + ["--objective", "val_nonsense"], "Unknown objective 'val_nonsense'"),
        (BASE + ["--option", "epochs=3"], "cannot be fixed here"),
        (BASE + ["--jit", "maybe"], "--jit must be one of"),
        (BASE + ["--data", "no_such_data"], "Unknown dataset 'no_such_data'"),
        (BASE + ["--cv", "stratified:200"], "stratified with 200 folds needs at least"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path):
    code = main(argv + ["--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepzoo tune: error: ")
    assert message in lines[0]


def test_bad_space_file_content_is_exit_2(capsys, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {kind: gaussian}\n")
    assert main(BASE + ["--space", str(space), "--out", str(tmp_path / "out")]) == 2
    assert "unknown kind 'gaussian'" in capsys.readouterr().err


def test_refuses_an_output_directory_that_is_not_a_search(capsys, tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(BASE + ["--out", str(tmp_path), "--overwrite"]) == 2
    assert "not a tuning directory" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_unknown_tuner_is_rejected_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(BASE + ["--tuner", "annealing"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'annealing'" in capsys.readouterr().err
