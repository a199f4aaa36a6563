import pandas as pd
import pytest

from conftest import load_script, write_labels
from rmens_utils import cost, get_config


@pytest.fixture
def labelled_pairs(tmp_path, monkeypatch):
    """A tiny stand-in for notebook 02's labels under a temporary repository root."""
    monkeypatch.setenv("RMENS_RUNS", str(tmp_path / "runs"))
    n = 16
    rows = {"prompt": [f"Tell me about topic {i}." for i in range(n)],
            "chosen": [f"Topic {i} is interesting for many reasons." for i in range(n)],
            "rejected": ["No."] * n, "flipped": [False] * n}
    write_labels(get_config("smoke"), rows, rows)


def test_benchmark_sweeps_k_and_writes_csv_and_plot(labelled_pairs, tmp_path):
    bench = load_script("benchmarks/reward_model_cost.py")
    table = bench.main(["--profile", "smoke", "--ks", "1", "3", "--steps", "2",
                        "--score-pairs", "4", "--out", str(tmp_path / "out")])
    assert (tmp_path / "out" / "cost_smoke.png").is_file()
    saved = pd.read_csv(tmp_path / "out" / "cost_smoke.csv")
    assert len(saved) == len(table) == 5  # single; k=1 of both kinds; k=3 of both kinds
    by = saved.set_index(["kind", "k"])
    hidden = 384  # MiniLM: a head is hidden + 1 parameters
    single = by.loc[("single", 1), "parameters"]
    assert by.loc[("multi-head", 3), "parameters"] == single + 2 * (hidden + 1)
    assert by.loc[("full ensemble", 3), "parameters"] == 3 * single
    assert (saved["training seconds per epoch"] > 0).all()
    assert (saved["peak memory (MB)"] > 100).all()
    # measured from before the first model: at least one MiniLM's weights (~90 MB) on top
    assert (saved["peak memory above baseline (MB)"] > 50).all()
    r = cost.ratios(saved, 3)
    assert r.loc["parameters"].iloc[0] == pytest.approx((single + 770) / (3 * single), abs=1e-3)


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="Valid: single, multi-head, full ensemble"):
        cost.measure("smoke", "lora ensemble", 3)


def test_a_measurement_is_kept_and_a_cheap_ensemble_counts_shared_weights_once(labelled_pairs,
                                                                                monkeypatch):
    frozen = cost.measure("smoke", "frozen_k3", steps=2, score_pairs=4)
    assert frozen["kind"] == "frozen_k3" and frozen["k"] == 3
    single_parameters = 22_713_601  # MiniLM (M) plus one head (L = 385): the benchmark's single
    assert frozen["parameters"] == single_parameters + 2 * 385  # M + 3L: the backbone once

    def no_new_process(*args, **kwargs):
        raise AssertionError("measured again")

    monkeypatch.setattr(cost, "ProcessPoolExecutor", no_new_process)
    assert cost.measure("smoke", "frozen_k3", steps=2, score_pairs=4) == frozen  # kept
    with pytest.raises(AssertionError, match="measured again"):
        cost.measure("smoke", "frozen_k3", steps=3, score_pairs=4)  # another measurement


def test_a_busy_cpu_is_named_before_a_measurement(monkeypatch, capsys, labelled_pairs):
    assert cost.busy_warning(busy=0.1, cores=2) is None
    assert "use 50% of its 2 cores" in cost.busy_warning(busy=0.5, cores=2)

    def stop(*args, **kwargs):
        raise RuntimeError("stopped before measuring")

    monkeypatch.setattr("psutil.cpu_percent", lambda interval: 100.0)
    monkeypatch.setattr(cost, "ProcessPoolExecutor", stop)
    with pytest.raises(RuntimeError, match="stopped before measuring"):
        cost.measure("smoke", "frozen_k3", steps=2, score_pairs=4, force=True)
    assert "the CPU is busy (other processes use 100%" in capsys.readouterr().out
