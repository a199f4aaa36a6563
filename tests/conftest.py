import atexit
import os
import shutil
import tempfile

import pytest

# Tests use the smallest profile unless a test asks for another one.
os.environ.setdefault("RMENS_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests never write into the repository's runs/: the session gets its own runs folder, which
# the notebooks executed by nbmake inherit through the environment.
SESSION_RUNS = tempfile.mkdtemp(prefix="rmens-test-runs-")
os.environ["RMENS_RUNS"] = SESSION_RUNS
atexit.register(shutil.rmtree, SESSION_RUNS, ignore_errors=True)
# Nor into its results/ (the committed outputs of the cpu study).
SESSION_RESULTS = tempfile.mkdtemp(prefix="rmens-test-results-")
os.environ["RMENS_RESULTS"] = SESSION_RESULTS
atexit.register(shutil.rmtree, SESSION_RESULTS, ignore_errors=True)


def pytest_collection_modifyitems(items):
    """The notebook opened alone runs first, while the session's runs folder is empty; the
    notebooks executed after it then find the stages it built."""
    items.sort(key=lambda item: "opened_alone" not in item.name)


@pytest.fixture
def tmp_runs(tmp_path, monkeypatch):
    """An empty, throw-away runs folder sharing only the converted base policy."""
    from rmens_utils import artifacts, get_config, models

    models.load_policy(get_config("smoke"))  # converted once into the session's _cache
    shared = artifacts.runs_root() / "_cache"
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "_cache").symlink_to(shared)
    monkeypatch.setenv("RMENS_RUNS", str(runs))
    return runs
