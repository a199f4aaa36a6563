"""Every notebook's first cell (scripts/colab_setup.py): in step with the repository's address,
an install that checks versions, the modes, Drive, and read mode's stop."""
import json
import os
import shutil

import pytest

from conftest import load_script
from rmens_utils import artifacts, get_config, pipeline

colab_setup = load_script("scripts/colab_setup.py")


def test_every_notebook_opens_with_the_cell_and_badge_of_the_repositorys_address():
    repo = colab_setup.repository()
    assert repo.startswith("https://github.com/")
    for path in sorted(colab_setup.NOTEBOOKS.glob("*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        code = next(c for c in cells if c["cell_type"] == "code")
        assert "".join(code["source"]) == colab_setup.first_cell(), path.name
        assert f'REPO = "{repo}"' in "".join(code["source"])
        assert colab_setup.badge(path.name) in "".join(cells[0]["source"]), path.name


def test_a_fork_changes_its_address_once_and_sync_writes_it_everywhere(tmp_path):
    notebooks = []
    for name in ("01_sft.ipynb", "06_ppo.ipynb"):
        shutil.copy(colab_setup.NOTEBOOKS / name, tmp_path / name)
        notebooks.append(tmp_path / name)
    fork = "https://github.com/someone/rmens-fork"
    assert colab_setup.sync(notebooks, fork) == ["01_sft.ipynb", "06_ppo.ipynb"]
    assert colab_setup.sync(notebooks, fork) == []  # written once: nothing left to change
    text = (tmp_path / "06_ppo.ipynb").read_text()
    assert "github/someone/rmens-fork/blob/main/notebooks/06_ppo.ipynb" in text
    assert f'REPO = \\"{fork}\\"' in text and "rmens/rmens" not in text
    # the rest of the notebook is untouched
    before = json.loads((colab_setup.NOTEBOOKS / "06_ppo.ipynb").read_text())["cells"]
    after = json.loads(text)["cells"]
    assert [c["source"] for c in before[2:]] == [c["source"] for c in after[2:]]


def test_the_install_is_judged_by_installed_versions_so_a_rerun_repairs_it():
    pinned = colab_setup.pins(artifacts.repo_root() / "requirements.txt")
    assert pinned["transformers"] and all(pinned.values())  # every requirement pinned
    versions = {"transformers": pinned["transformers"], "trl": "0.9.0"}  # trl: wrong, rest: missing
    need = colab_setup.to_install(pinned, versions.get)
    assert f"trl=={pinned['trl']}" in need and not any(n.startswith("transformers") for n in need)
    assert len(need) == len(pinned) - 1
    assert colab_setup.to_install({"anything": ""}, {"anything": "1.0"}.get) == []
    assert colab_setup.to_install({"anything": ""}, {}.get) == ["anything"]


def test_install_installs_only_what_is_not_met(monkeypatch):
    calls = []
    monkeypatch.setattr(colab_setup, "installed_version", lambda name: None)  # a bare runtime
    done = colab_setup.install(pip=lambda *args: calls.append(args))
    assert "--no-deps" not in calls[0] and any(a.startswith("transformers==") for a in calls[0])
    assert calls[1][0] == "--no-deps" and any("smollm2" in a for a in calls[1])
    assert calls[2][:2] == ("--no-deps", "-e") and done[-1].startswith("rmens_utils")
    monkeypatch.setattr(colab_setup, "to_install", lambda pinned: [])
    monkeypatch.setattr(colab_setup, "installed_version", lambda name: "0.1.0")
    assert colab_setup.install(pip=lambda *args: pytest.fail(f"installed {args}")) == []


def test_a_package_installed_after_its_import_asks_for_a_restart(monkeypatch):
    import numpy  # noqa: F401  (imported, as Colab's kernel has)

    assert colab_setup.imported_already(["numpy==0.0.1", "rmens_utils (this repository)"]) == [
        "numpy"]
    monkeypatch.setattr(colab_setup, "install", lambda: ["numpy==0.0.1"])
    with pytest.raises(RuntimeError, match="Restart the session"):
        colab_setup.start("read", use_drive=False)


def test_each_mode_picks_its_profile_and_an_unknown_one_names_the_choices(monkeypatch):
    assert colab_setup.environment_for("read") == {"RMENS_PROFILE": "cpu", "RMENS_READ_ONLY": "1"}
    assert colab_setup.environment_for("run")["RMENS_PROFILE"] == "cpu"  # on any device
    assert colab_setup.environment_for("smoke")["RMENS_PROFILE"] == "smoke"
    assert colab_setup.environment_for("larger scale")["RMENS_PROFILE"] == "gpu"
    with pytest.raises(ValueError, match="choose one of"):
        colab_setup.environment_for("gpu")
    for variable in ("RMENS_PROFILE", "RMENS_READ_ONLY"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))  # restored after the test
    monkeypatch.setattr(colab_setup, "install", lambda: [])
    colab_setup.start("smoke", use_drive=False)
    assert os.environ["RMENS_PROFILE"] == "smoke" and os.environ["RMENS_READ_ONLY"] == "0"


def test_drive_gets_the_results_and_finished_stages_the_runtime_the_work(tmp_path, monkeypatch):
    for variable in ("RMENS_RUNS", "RMENS_RESULTS", "RMENS_WORK"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))  # restored after the test
    monkeypatch.setattr(colab_setup, "ROOT", tmp_path / "clone")
    committed = tmp_path / "clone" / "results" / "cpu" / "ppo" / "log.csv"
    committed.parent.mkdir(parents=True)
    committed.write_text("committed")
    mine = tmp_path / "drive" / "results" / "cpu" / "mine.csv"
    mine.parent.mkdir(parents=True)
    mine.write_text("made on Colab")
    colab_setup.keep_on_drive(tmp_path / "drive", tmp_path / "local")
    assert (tmp_path / "drive" / "results" / "cpu" / "ppo" / "log.csv").read_text() == "committed"
    committed.write_text("changed in the repository")
    colab_setup.keep_on_drive(tmp_path / "drive", tmp_path / "local")  # never overwrites
    assert (tmp_path / "drive" / "results" / "cpu" / "ppo" / "log.csv").read_text() == "committed"
    assert mine.read_text() == "made on Colab"
    assert os.environ["RMENS_RUNS"] == str(tmp_path / "drive" / "runs")
    assert os.environ["RMENS_WORK"] == str(tmp_path / "local")
    assert artifacts.results_dir("cpu") == tmp_path / "drive" / "results" / "cpu"


def test_read_mode_makes_nothing_and_stops_quietly(tmp_path, monkeypatch):
    monkeypatch.setenv("RMENS_RUNS", str(tmp_path / "runs"))
    def build(out, work):
        (out / "a.txt").write_text("made")

    artifacts.run_stage("smoke", "s", {"lr": 1}, build, lambda f: "loaded")
    monkeypatch.setenv("RMENS_READ_ONLY", "1")
    assert artifacts.run_stage("smoke", "s", {"lr": 1}, None, lambda f: "loaded") == "loaded"
    with pytest.raises(artifacts.ReadOnlyStop, match='MODE = "smoke"') as stop:
        artifacts.run_stage("smoke", "t", {"lr": 1}, build, lambda f: "loaded")
    assert not artifacts.stage_dir("smoke", "t").exists()
    assert stop.value._render_traceback_() == [str(stop.value)]  # no traceback in a notebook
    with pytest.raises(artifacts.ReadOnlyStop, match="'sft' is not on this runtime"):
        pipeline.prepare(get_config("smoke"), "sft")
    assert not artifacts.stage_dir("smoke", "sft").exists()


def test_every_notebook_in_read_mode_runs_or_stops_at_its_first_build_making_nothing(
        tmp_path, monkeypatch):
    """Opened from its badge in read mode on a fresh runtime (an empty runs folder), a notebook
    either runs to its end or stops quietly where it would first
    build a stage; nothing else goes wrong, and nothing is made. Every cell below the stop keeps
    its committed outputs, so the lesson reads whole. On smoke, for speed (~2 min): Colab's
    read mode runs the same cells on cpu, where 06 and 09 run to their end on the committed
    results."""
    import nbclient
    import nbformat

    runs = tmp_path / "runs"
    monkeypatch.setenv("RMENS_RUNS", str(runs))
    monkeypatch.setenv("RMENS_RESULTS", str(tmp_path / "results"))  # a fresh clone's, copied
    shutil.copytree(artifacts.repo_root() / "results", tmp_path / "results")
    monkeypatch.setenv("RMENS_READ_ONLY", "1")
    monkeypatch.setenv("RMENS_PROFILE", "smoke")
    stopped = {}
    for path in sorted(colab_setup.NOTEBOOKS.glob("0*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                         resources={"metadata": {"path": str(path.parent)}})
        try:
            client.execute()
        except nbclient.exceptions.CellExecutionError as error:
            assert error.ename == "ReadOnlyStop", f"{path.name}: {error}"
            stopped[path.stem] = True
        else:
            stopped[path.stem] = False
    assert stopped["01_sft"] and stopped["03_proxy_reward_model"]
    assert not [p for p in runs.rglob("rmens_stage.json") if "_cache" not in p.parts]
