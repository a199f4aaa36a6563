import numpy as np

from rmens_utils.labels import label_pairs


def test_labels_follow_gold_then_flip_at_the_noise_rate():
    n = 4000
    rng = np.random.default_rng(0)
    gold_a, gold_b = rng.normal(size=n), rng.normal(size=n)
    a = [f"a{i}" for i in range(n)]
    b = [f"b{i}" for i in range(n)]
    df = label_pairs([f"p{i}" for i in range(n)], a, b, gold_a, gold_b, noise=0.25, seed=1)
    assert abs(df["flipped"].mean() - 0.25) < 0.02
    clean = ~df["flipped"]
    assert (df.loc[clean, "gold_chosen"] > df.loc[clean, "gold_rejected"]).all()
    assert (df.loc[~clean, "gold_chosen"] < df.loc[~clean, "gold_rejected"]).all()
    # the answers travel with their scores
    i = 7
    chosen_is_a = df.loc[i, "chosen"] == a[i]
    assert df.loc[i, "gold_chosen"] == (gold_a[i] if chosen_is_a else gold_b[i])
    assert (df["chosen_is_a"] == df["chosen"].str.startswith("a")).all()


def test_no_noise_means_no_flips_and_ties_are_split():
    df = label_pairs(["p"] * 1000, ["x"] * 1000, ["y"] * 1000, np.zeros(1000), np.zeros(1000),
                     noise=0.0, seed=0)
    assert not df["flipped"].any()
    assert 0.4 < (df["chosen"] == "x").mean() < 0.6


def test_labelling_is_repeatable():
    args = (["p"] * 50, ["x"] * 50, ["y"] * 50, np.arange(50.0), np.arange(50.0)[::-1])
    a, b = label_pairs(*args, noise=0.25, seed=3), label_pairs(*args, noise=0.25, seed=3)
    assert a.equals(b)


def test_label_stats_against_hand_values():
    import pandas as pd

    from rmens_utils.labels import label_stats
    df = pd.DataFrame({
        "chosen": ["a b c", "a", "a b", "a b c d"],
        "rejected": ["a", "a b", "a b c", "a"],
        "gold_chosen": [1.0, 0.0, 2.0, 1.05],
        "gold_rejected": [0.0, 1.0, 1.0, 1.0],
        "flipped": [False, True, False, False],
        "finished_chosen": [True, True, False, False],
        "finished_rejected": [True, False, False, False]})
    s = label_stats(df)
    assert s["pairs"] == 4 and s["realised flip rate"] == 0.25
    assert s["pairs within 0.1 of a gold tie"] == 0.25  # only the last pair (gap 0.05)
    assert s["answers finished (EOS) within the budget"] == 0.375
    assert s["mean answer length (words)"] == 2.125  # 17 words in 8 answers
    # gold-better answers: "a b c", "a b" (flipped), "a b", "a b c d" → longer in 3 of 4
    assert s["gold-better answer is the longer one"] == 0.75
