import json
import signal
import subprocess
import sys
import textwrap

import pytest

from rmens_utils import artifacts


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("RMENS_ROOT", str(tmp_path))
    return tmp_path


def test_paths_resolve_from_the_repository_not_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("RMENS_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    root = artifacts.repo_root()
    assert (root / "rmens_utils" / "artifacts.py").is_file()
    assert artifacts.stage_dir("cpu", "sft") == root / "runs" / "cpu" / "sft"


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


def test_stage_complete_only_for_the_same_config(root):
    assert not artifacts.is_complete("cpu", "sft", {"lr": 1})
    with artifacts.atomic_dir(artifacts.stage_dir("cpu", "sft")) as tmp:
        artifacts.write_stage_config(tmp, {"lr": 1})
    assert artifacts.is_complete("cpu", "sft", {"lr": 1})
    assert not artifacts.is_complete("cpu", "sft", {"lr": 2})
    assert not artifacts.is_complete("smoke", "sft", {"lr": 1})


def test_missing_stage_names_the_notebook(root):
    with pytest.raises(artifacts.MissingArtifactError) as err:
        artifacts.require_stage("cpu", "sft")
    assert "01_sft.ipynb" in str(err.value) and "RMENS_PROFILE=cpu" in str(err.value)
