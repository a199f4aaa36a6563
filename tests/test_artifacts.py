import json
import signal
import subprocess
import sys
import textwrap

import pytest

from rmens_utils import artifacts


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("RMENS_RUNS", str(tmp_path / "runs"))
    return tmp_path


def test_paths_resolve_from_the_repository_not_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("RMENS_ROOT", raising=False)
    monkeypatch.delenv("RMENS_RUNS", raising=False)
    monkeypatch.chdir(tmp_path)
    root = artifacts.repo_root()
    assert (root / "rmens_utils" / "artifacts.py").is_file()
    assert artifacts.stage_dir("cpu", "sft") == root / "runs" / "cpu" / "sft"


def test_a_moved_runs_folder_is_honoured(monkeypatch, tmp_path):
    from rmens_utils import setup

    monkeypatch.setenv("RMENS_RUNS", str(tmp_path / "elsewhere"))
    assert artifacts.stage_dir("cpu", "sft") == tmp_path / "elsewhere" / "cpu" / "sft"
    setup("smoke", runs_dir=tmp_path / "drive", verbose=False)  # as on Colab with Drive
    assert artifacts.stage_dir("smoke", "labels") == tmp_path / "drive" / "smoke" / "labels"
    assert artifacts.shown(artifacts.stage_dir("smoke", "labels")) == "<runs>/smoke/labels"


def test_atomic_write_replaces_whole_file(root):
    path = root / "a" / "x.json"
    artifacts.atomic_write_json(path, {"v": 1})
    artifacts.atomic_write_json(path, {"v": 2})
    assert json.loads(path.read_text()) == {"v": 2}
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]  # no temporary left


def test_interrupted_atomic_write_leaves_old_file_and_no_partial(root):
    """Kill a writer in the middle of a large write: the old content survives intact."""
    path = root / "big.txt"
    path.write_text("old")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(artifacts.repo_root())!r})
        from rmens_utils import artifacts
        real_fdopen = os.fdopen
        def slow_fdopen(*a, **k):
            f = real_fdopen(*a, **k)
            f.write("partial" * 1000); f.flush()
            print("writing", flush=True)
            import time; time.sleep(30)
            return f
        os.fdopen = slow_fdopen
        artifacts.atomic_write_text({str(path)!r}, "new")
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert path.read_text() == "old"
    leftovers = [p for p in root.iterdir() if p.name != "big.txt"]
    assert all(p.name.startswith(".big.txt.") for p in leftovers)  # hidden temp, never the file


def test_atomic_dir_keeps_old_folder_on_error(root):
    target = root / "runs" / "cpu" / "stage"
    with artifacts.atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text("first")
    with pytest.raises(RuntimeError):
        with artifacts.atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text("second")
            raise RuntimeError("interrupted")
    assert (target / "a.txt").read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["stage"]


@pytest.mark.parametrize("unwind", [False, True])
def test_sigterm_unwinds_an_atomic_dir_only_once_asked_to(root, unwind):
    """`pkill` sends SIGTERM: by default Python dies on the spot and the half-written folder
    stays; after ``unwind_on_sigterm`` the process exits through ``atomic_dir``'s cleanup."""
    target = root / "stage"
    script = textwrap.dedent(f"""
        import os, signal
        from rmens_utils import artifacts
        if {unwind}:
            artifacts.unwind_on_sigterm()
        with artifacts.atomic_dir({str(target)!r}) as tmp:
            (tmp / "half.txt").write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
    """)
    code = subprocess.run([sys.executable, "-c", script]).returncode
    left = [p.name for p in root.iterdir() if p.name.startswith(".stage.tmp-")]
    assert not target.exists()
    assert (code, len(left)) == ((143, 0) if unwind else (-signal.SIGTERM, 1))


def test_stage_complete_only_for_the_same_config(root):
    assert not artifacts.is_complete("cpu", "sft", {"lr": 1})
    with artifacts.atomic_dir(artifacts.stage_dir("cpu", "sft")) as tmp:
        artifacts.write_record(tmp, {"lr": 1}, {"data": "b1"})
    assert artifacts.is_complete("cpu", "sft", {"lr": 1})
    assert artifacts.is_complete("cpu", "sft", {"lr": 1}, {"data": "b1"})
    assert not artifacts.is_complete("cpu", "sft", {"lr": 1}, {"data": "b2"})  # other input
    assert not artifacts.is_complete("cpu", "sft", {"lr": 2})
    assert not artifacts.is_complete("smoke", "sft", {"lr": 1})


def test_a_build_id_is_a_hash_of_the_settings_the_inputs_and_the_files(root):
    def build(text, settings=None, inputs=None):
        folder = root / "b" / text / str(settings) / str(inputs)
        folder.mkdir(parents=True)
        (folder / "weights.bin").write_text(text)
        return artifacts.write_record(folder, settings or {"lr": 1}, inputs)

    same = build("w")
    assert len(same) == 12 and same == build("w", inputs={}) == build("w", {"lr": 1})
    ids = {same, build("other bytes"), build("w", {"lr": 2}), build("w", inputs={"sft": "x"})}
    assert len(ids) == 4
    record = artifacts.read_record(root / "b" / "w" / "None" / "None")
    assert record == {"settings": {"lr": 1}, "inputs": {}, "build": same}


def _build(files: dict):
    def build(out, work):
        for name, text in files.items():
            (out / name).write_text(text)
    return build


def _read(folder):
    return (folder / "a.txt").read_text()


def test_run_stage_builds_once_then_loads_and_remakes_when_settings_change(root, capsys):
    assert artifacts.run_stage("cpu", "s", {"lr": 1}, _build({"a.txt": "one"}), _read) == "one"
    assert "done" not in capsys.readouterr().out
    # same settings: loaded, not rebuilt (the build would fail)
    assert artifacts.run_stage("cpu", "s", {"lr": 1}, None, _read) == "one"
    assert "s: done for these settings, loaded from <runs>/cpu/s" in capsys.readouterr().out
    # other settings: never silently reused
    assert artifacts.run_stage("cpu", "s", {"lr": 2}, _build({"a.txt": "two"}), _read) == "two"
    assert "made with other settings or inputs (settings.lr): remaking it" in \
        capsys.readouterr().out
    assert artifacts.is_complete("cpu", "s", {"lr": 2})
    # the same settings from another build of an input: made again
    assert artifacts.run_stage("cpu", "s", {"lr": 2}, _build({"a.txt": "three"}), _read,
                               inputs={"sft": "abc"}) == "three"
    assert "(inputs.sft)" in capsys.readouterr().out
    assert artifacts.read_record(artifacts.stage_dir("cpu", "s"))["inputs"] == {"sft": "abc"}
    assert not (artifacts.runs_dir("cpu") / "_work" / "s").exists()


def test_stages_loaded_together_are_said_in_one_line(root, capsys):
    for name in ("a", "b"):
        artifacts.run_stage("cpu", name, {}, _build({"a.txt": name}), _read)
    capsys.readouterr()
    with artifacts.summarised_loads():
        with artifacts.summarised_loads():  # nested: said once, by the outer one
            assert artifacts.run_stage("cpu", "a", {}, None, _read) == "a"
        assert artifacts.run_stage("cpu", "b", {}, None, _read) == "b"
        artifacts.run_stage("cpu", "c", {}, _build({"a.txt": "c"}), _read)  # made: not listed
        assert capsys.readouterr().out == ""
    assert capsys.readouterr().out == ("2 stages done for these settings, loaded from "
                                       "<runs>/cpu: a, b (force=True remakes one)\n")


def test_run_stage_interrupted_keeps_its_work_and_never_looks_done(root):
    def interrupted(out, work):
        (work / "chunk-0").write_text("kept")  # progress worth keeping
        (out / "a.txt").write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        artifacts.run_stage("cpu", "s", {"lr": 1}, interrupted, _read)
    assert not artifacts.stage_dir("cpu", "s").exists()
    seen = []

    def resumed(out, work):
        seen.append((work / "chunk-0").read_text())
        (out / "a.txt").write_text("whole")

    assert artifacts.run_stage("cpu", "s", {"lr": 1}, resumed, _read) == "whole"
    assert seen == ["kept"]
    # work left by other settings is thrown away, not resumed from
    with pytest.raises(KeyboardInterrupt):
        artifacts.run_stage("cpu", "t", {"lr": 1}, interrupted, _read)
    fresh = []
    artifacts.run_stage("cpu", "t", {"lr": 3}, lambda out, work: (
        fresh.append(sorted(p.name for p in work.iterdir())), _build({"a.txt": "x"})(out, work)),
        _read)
    assert fresh == [["rmens_stage.json"]]


def test_with_a_work_folder_the_runs_folder_only_ever_receives_finished_stages(root, monkeypatch):
    """As on Colab: the runs folder on Drive, checkpoints and half-made stages on local disk."""
    monkeypatch.setenv("RMENS_WORK", str(root / "local"))
    runs = artifacts.runs_dir("cpu")
    seen = {}

    def interrupted(out, work):
        (work / "chunk-0").write_text("kept")
        (out / "a.txt").write_text("half")
        seen["during"] = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        artifacts.run_stage("cpu", "s", {"lr": 1}, interrupted, _read)
    assert not any(path.startswith("runs/") for path in seen["during"])  # nothing on "Drive"
    assert (root / "local" / "cpu" / "_work" / "s" / "chunk-0").read_text() == "kept"
    assert not runs.exists() or not any(runs.rglob("*.txt"))
    assert artifacts.run_stage("cpu", "s", {"lr": 1}, _build({"a.txt": "whole"}), _read) == "whole"
    assert sorted(p.name for p in runs.iterdir()) == ["s"]  # no temporary left beside it
    assert not any((root / "local").rglob("*.txt"))  # nor in the work folder


def test_differences_name_the_changed_settings():
    old = {"sft": {"lr": 1, "epochs": 2}, "seed": 0}
    assert artifacts.differences(old, {"sft": {"lr": 1, "epochs": 3}, "seed": 1}) == [
        "seed", "sft.epochs"]


def test_a_figure_is_saved_whole_or_not_at_all(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    fig, _ = plt.subplots()
    assert artifacts.save_figure(fig, tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "b.png").write_bytes(b"old")
    fig, _ = plt.subplots()
    monkeypatch.setattr(fig, "savefig", lambda path, **k: (open(path, "wb").write(b"half"),
                                                             1 / 0))
    with pytest.raises(ZeroDivisionError):
        artifacts.save_figure(fig, tmp_path / "b.png")
    assert (tmp_path / "b.png").read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temporary
