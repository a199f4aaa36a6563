"""Best-of-n: pick, among n policy samples, the one the proxy likes best.

From N samples per prompt, the expected gold (and proxy) reward of best-of-n for every
n ≤ N is computed exactly over all size-n subsets (the unbiased estimator of Nakano et
al. 2021, used by Gao et al. and Coste et al.), rather than by drawing subsets.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from scipy.optimize import brentq
from scipy.special import gammaln

from . import stages
from .data import load_split, prompt_text
from .gold import load_gold, with_gold
from .hardware import precision_of
from .models import load_sft_policy
from .proxy import cached_scores
from .sampling import sample_cached
from .stages import BON_SAMPLES as STAGE
from .stages import bon_params


def kl_best_of_n(n) -> np.ndarray:
    """KL(best-of-n ‖ policy) = log n − (n − 1)/n, in nats (Stiennon et al. 2020)."""
    n = np.asarray(n, dtype=float)
    return np.log(n) - (n - 1) / n


def best_of_n_weights(N: int, n: int) -> np.ndarray:
    """``(N,)``: probability that the i-th lowest-proxy sample (0-based) is the proxy-best
    of a uniformly random size-n subset of the N samples: C(i, n−1) / C(N, n)."""
    if not 1 <= n <= N:
        raise ValueError(f"n must be in 1..{N}, got {n}")
    i = np.arange(N)
    log_w = np.full(N, -np.inf)
    ok = i >= n - 1
    log_w[ok] = (gammaln(i[ok] + 1) - gammaln(n) - gammaln(i[ok] - n + 2)
                 - (gammaln(N + 1) - gammaln(n + 1) - gammaln(N - n + 1)))
    return np.exp(log_w)


def best_of_n_expectation(proxy: np.ndarray, values: np.ndarray, n: int) -> float:
    """E[value of the proxy-best of n samples] for one prompt; ``proxy``, ``values``: (N,).

    Ties in the proxy are broken by sample order, as ``np.argsort`` (stable) does.
    """
    order = np.argsort(proxy, kind="stable")
    return float(best_of_n_weights(len(proxy), n) @ np.asarray(values)[order])


def per_prompt_best_of_n(df: pd.DataFrame, proxy: str, value: str, n: int,
                         prompt_col: str = "prompt_id") -> pd.Series:
    """E[``value`` of the ``proxy``-best of n samples], one entry per prompt."""
    return df.groupby(prompt_col, sort=False).apply(
        lambda g: best_of_n_expectation(g[proxy].to_numpy(), g[value].to_numpy(dtype=float), n),
        include_groups=False)


def best_of_n_table(df: pd.DataFrame, proxy: str, columns: list[str], ns=None,
                    prompt_col: str = "prompt_id") -> pd.DataFrame:
    """Expected value of each of ``columns`` for the proxy's best-of-n pick, per n,
    averaged over prompts (uncentred). ``df``: one row per sample; every prompt has the
    same number N of samples; ``ns`` defaults to the powers of two up to N."""
    N = df.groupby(prompt_col).size().min()
    ns = ns if ns is not None else [2 ** k for k in range(int(math.log2(N)) + 1)]
    return pd.DataFrame([{"n": n, **{col: per_prompt_best_of_n(df, proxy, col, n, prompt_col).mean()
                                     for col in columns}} for n in ns])


def best_of_n_curve(df: pd.DataFrame, proxy: str, gold: str, ns=None,
                    prompt_col: str = "prompt_id") -> pd.DataFrame:
    """Best-of-n gold and proxy reward per n, averaged over prompts, centred so that the
    policy itself (n = 1) scores 0. Returns columns ``n, kl, sqrt_kl, proxy, gold``."""
    table = best_of_n_table(df, proxy, [proxy, gold], ns, prompt_col)
    # best-of-1 is the policy itself: its expected reward is the mean over all samples
    base = best_of_n_table(df, proxy, [proxy, gold], [1], prompt_col).iloc[0]
    # read by name, not renamed: the proxy may be the gold itself (the ceiling of best-of-n)
    out = pd.DataFrame({"n": table["n"], "proxy": table[proxy] - base[proxy],
                        "gold": table[gold] - base[gold]})
    out.insert(1, "kl", kl_best_of_n(out["n"]))
    out.insert(2, "sqrt_kl", np.sqrt(out["kl"]))
    return out


def fit_gao(curve: pd.DataFrame, column: str = "gold") -> dict:
    """Least-squares fit of Gao et al.'s best-of-n law R(d) = d·(α − β·d), d = √KL, to a
    :func:`best_of_n_curve` column. With β > 0 the curve peaks at d* = α / (2β), i.e.
    KL* = d*², with R(d*) = α² / (4β); ``peak_kl`` is ``inf`` when β ≤ 0."""
    d = curve["sqrt_kl"].to_numpy()
    (alpha, beta), *_ = np.linalg.lstsq(np.stack([d, -d ** 2], 1), curve[column].to_numpy(),
                                        rcond=None)
    peak_d = alpha / (2 * beta) if beta > 0 else np.inf
    return {"alpha": float(alpha), "beta": float(beta), "peak_kl": float(peak_d ** 2),
            "peak_n": float(peak_n(peak_d ** 2)) if np.isfinite(peak_d) else np.inf,
            "peak_reward": float(alpha ** 2 / (4 * beta)) if beta > 0 else np.inf}


def peak_n(kl: float) -> float:
    """The n whose best-of-n KL, log n − (n − 1)/n, equals ``kl`` (a root search)."""
    log_n = brentq(lambda u: kl_best_of_n(np.exp(u)) - kl, 0.0, 700.0)  # n up to ~1e304
    return float(np.exp(log_n))


def compare_curves(df: pd.DataFrame, proxies: list[str], gold: str = "gold") -> pd.DataFrame:
    """:func:`best_of_n_curve` for each proxy column, stacked, with a ``reward_model``
    column naming it (ready for ``plotting.plot_best_of_n``)."""
    return pd.concat([best_of_n_curve(df, p, gold).assign(reward_model=p) for p in proxies],
                     ignore_index=True)


def bootstrap_interval(values, n_boot: int = 10_000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (resampling its entries), by
    ``scipy.stats.bootstrap`` with a seeded generator: the same interval every run."""
    result = stats.bootstrap((np.asarray(values, dtype=float),), np.mean, n_resamples=n_boot,
                             confidence_level=level, method="percentile", vectorized=True,
                             rng=np.random.default_rng(seed))
    return result.confidence_interval.low, result.confidence_interval.high


def paired_best_of_n(df: pd.DataFrame, models: list[str], baselines: list[str], n: int,
                     gold: str = "gold", prompt_col: str = "prompt_id") -> pd.DataFrame:
    """Best-of-n gold of each of ``models`` minus that of each of ``baselines``, on the
    same prompts and samples: the mean difference over prompts with a 95 % paired bootstrap
    interval (prompts resampled), a row a ``contrast`` (``model − baseline``) as
    :func:`plotting.plot_contrasts` reads them. E.g. each aggregate against each ensemble
    member: does aggregating beat every member, or only the weakest?"""
    picks = {m: per_prompt_best_of_n(df, m, gold, n, prompt_col) for m in {*models, *baselines}}
    rows = []
    for m in models:
        for b in baselines:
            diff = (picks[m] - picks[b]).to_numpy()
            low, high = bootstrap_interval(diff)
            rows.append({"contrast": f"{m} − {b}", "model": m, "baseline": b, "n": n,
                         "difference": diff.mean(), "95 % low": low, "95 % high": high,
                         "prompts": len(diff)})
    return pd.DataFrame(rows)


def run_bon_sampling(cfg, force: bool = False) -> pd.DataFrame:
    """``n_samples`` answers of the SFT policy for each of ``n_prompts`` eval prompts,
    gold-scored, cached in ``<runs>/<profile>/bon_samples`` for every reward model to
    re-score. Columns: ``prompt_id, prompt, sample_idx, text, n_tokens, finished, gold``
    and, with the rubric gold, its terms ``gold_<term>`` (:func:`gold.with_gold`)."""
    def build(out, work):
        rows = load_split("eval", cfg).select(range(cfg.bon.n_prompts))
        prompts = [prompt_text(r) for r in rows]
        policy, tokenizer = load_sft_policy(cfg, dtype=precision_of(cfg).sample_dtype)
        # the same sampling settings as the labelled pairs: the proxy is judged in-distribution
        df = sample_cached(policy, tokenizer, prompts, cfg.bon.n_samples, cfg.labels.generation,
                           cfg.seed + 1, work, cfg.labels.chunk_size)
        del policy
        df.insert(0, "prompt_id", [rows[int(i)]["id"] for i in df["prompt_idx"]])
        df.insert(1, "prompt", [prompts[int(i)] for i in df.pop("prompt_idx")])
        df = with_gold(df, load_gold(cfg), work)  # kept chunk by chunk: resumable
        df.to_parquet(out / "samples.parquet", index=False)

    return stages.run(cfg, STAGE, build,
                      lambda folder: pd.read_parquet(folder / "samples.parquet"), force)


def score_samples(cfg, name: str, reward, samples: pd.DataFrame) -> np.ndarray:
    """``reward.score`` of every cached best-of-n sample, ``(len(samples), k)``, itself
    cached in ``<runs>/<profile>/bon_scores/<name>`` and re-made only when the samples or
    the reward model change. Notebooks 04–05 compare many models on the same samples
    without re-scoring them each time."""
    return cached_scores(cfg, f"bon_scores/{name}", {"samples": bon_params(cfg)}, reward,
                         samples["prompt"].tolist(), samples["text"].tolist())
