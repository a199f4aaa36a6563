"""The closing lesson's pieces (notebook 09): the set-ups side by side, the power curves, and
the confirmatory study read from results/ only."""
import dataclasses

from rmens_utils import confirm, papers, plotting, study
from rmens_utils.config import get_config


def test_this_series_column_is_read_from_the_profile():
    cfg = get_config("cpu")
    table = papers.setups(cfg)
    assert list(table.index) == papers.ROWS and list(table.columns)[:2] == list(papers.PAPERS)
    ours = table["this series (`cpu`)"]
    assert ours["preference pairs (label noise)"] == "2,000 (25 %)"
    assert ours["PPO"].startswith("40–50 steps, lr 0.001, batch 16")
    assert ours["KL penalty β"] == "0, 0.003, 0.01"
    noisier = dataclasses.replace(cfg, labels=dataclasses.replace(cfg.labels, noise=0.4))
    assert papers.setups(noisier).iloc[3, 2] == "2,000 (40 %)"


def test_the_power_plot_says_how_many_seeds_each_spread_needs():
    fig = plotting.plot_power({"narrow": 0.3, "wide": 3.0}, effect=0.5, seeds=range(2, 11))
    ax = fig.axes[0]
    title = ax.get_title()
    assert "narrow: 6" in title and "wide: more than 10" in title  # 0.5 / 0.3: d = 1.67
    narrow = ax.lines[0].get_ydata()
    assert narrow[4] >= 0.8 > narrow[3] and all(a <= b for a, b in zip(narrow, narrow[1:]))


def test_the_study_is_read_from_results_only_and_reports_no_run_before_its_first(
        tmp_path, monkeypatch):
    monkeypatch.setenv(study.RESULTS_ENV, str(tmp_path))
    ends = study.confirm_endpoints(get_config("cpu"))
    assert ends.empty and list(ends.columns)[:3] == ["arm", "run", "seed"]
    assert confirm.report(ends).endswith("No run of the study has finished yet.")

