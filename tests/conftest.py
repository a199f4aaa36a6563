import os

import pytest

# Tests use the smallest profile unless a test asks for another one.
os.environ.setdefault("RMENS_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def tmp_root(tmp_path, monkeypatch):
    """A throw-away repository root sharing data/ and the converted base policy."""
    from rmens_utils import artifacts, get_config, models

    models.load_policy(get_config("smoke"))  # makes runs/_cache in the real root if missing
    real = artifacts.repo_root()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "_cache").symlink_to(real / "runs" / "_cache")
    (tmp_path / "data").symlink_to(real / "data")
    monkeypatch.setenv("RMENS_ROOT", str(tmp_path))
    return tmp_path
