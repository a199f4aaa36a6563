import pandas as pd
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from rmens_utils import config, get_config, gold, models
from rmens_utils.artifacts import repo_root

PROMPT = gold.RUBRIC_EXAMPLES_PROMPT
GOOD = gold.RUBRIC_EXAMPLES["good"]
BAD = {k: v for k, v in gold.RUBRIC_EXAMPLES.items() if k != "good"}


@pytest.fixture(scope="module")
def rubric():
    return gold.load_gold(get_config("smoke"))  # the real offline gold, fluency model included


def test_text_statistics_against_hand_values():
    assert gold.repetition("one two three four five") == 0.0
    assert gold.repetition("a b c a b c") == pytest.approx(1 - 3 / 4)
    assert gold.length_score(30) == 1.0 and gold.length_score(1) == 0.0
    assert gold.length_score(2) == pytest.approx(0.5) and gold.length_score(3) == 1.0
    assert gold.length_score(90) == pytest.approx(0.5) and gold.length_score(150) < 0
    pilot = config.PILOT_RUBRIC.length_words  # 1 only from 12 words, falling from 50
    assert gold.length_score(3, pilot) == 0.0 and gold.length_score(75, pilot) == 0.5
    assert gold.content_words("The cats are sleeping on the mats") == {"cat", "sleeping", "mat"}
    assert gold.word_repetition("Sleep better: sleep early, sleep long.") == pytest.approx(1 - 4 / 6)
    assert gold.word_repetition("the of and") == 0.0  # no content words
    assert gold.repetition("sleep sleep better better") == 0.0  # why trigrams are not enough


def test_gold_ranks_each_genuine_answer_above_its_degenerate_twin(rubric):
    """Keyword stuffing, word salad and looped stock phrases, hand-written: a careful rater
    prefers every genuine answer, and so must the gold."""
    prompts = [p for p, _, _ in gold.DEGENERATE_PAIRS]
    genuine = rubric.score(prompts, [g for _, g, _ in gold.DEGENERATE_PAIRS])[:, 0]
    degenerate = rubric.score(prompts, [d for _, _, d in gold.DEGENERATE_PAIRS])[:, 0]
    for prompt, g, d in zip(prompts, genuine, degenerate):
        assert g > d + 0.5, f"{prompt!r}: genuine {g:.2f}, degenerate {d:.2f}"


def test_gold_prefers_a_short_direct_answer_to_fluent_filler(rubric):
    """What a careful reader prefers: the answer, not generic text about the topic. The pilot's
    gold preferred the filler in 10 of these 12 pairs; the study's gold errs in one (the km to
    miles answer repeats "kilometre" and "mile", which the keyword-stuffing penalty counts)."""
    pilot = gold.RubricGold(rubric.encoder, rubric.tokenizer, config.PILOT_RUBRIC, lm=rubric.lm)
    margins = gold.pair_margins({"study": rubric, "pilot": pilot}, {"direct": gold.DIRECT_PAIRS})
    assert gold.wins(margins).loc["direct"].tolist() == ["11 of 12", "2 of 12"]


def test_the_language_model_reads_prose_as_likelier_than_stuffed_keywords(rubric):
    _, genuine, stuffed = gold.DEGENERATE_PAIRS[0]
    alone = rubric.lm.text_logprob([genuine, stuffed, "Hi"])
    assert alone[0] > -5 > -6.5 > alone[1]
    assert alone[2] == -20.0  # one token: nothing to score
    one_by_one = torch.cat([rubric.lm.text_logprob([t]) for t in (genuine, stuffed)])
    assert torch.allclose(alone[:2], one_by_one, atol=1e-4)  # padding changes nothing
    prompt = gold.DEGENERATE_PAIRS[0][0]
    reply = rubric.lm.answer_logprob([prompt] * 2, [genuine, stuffed])
    assert reply[0] > -3.9 and reply[1] < -5.4  # fluency 1, and near 0 (from -5.9)


def test_specificity_ranks_each_direct_answer_above_its_on_topic_filler(rubric):
    """Filler about the topic is about as likely whatever was asked; an answer is not."""
    prompts, direct, filler = (list(x) for x in zip(*gold.DIRECT_PAIRS))
    generic = ["Write a short text."] * len(prompts)
    pmi = lambda answers: (rubric.lm.answer_logprob(prompts, answers)  # noqa: E731
                           - rubric.lm.answer_logprob(generic, answers))
    answer, other = pmi(direct), pmi(filler)
    assert (answer > other).all(), (answer - other).tolist()
    # batched with padding as one at a time, and an empty answer scores 0
    one = rubric.lm.answer_logprob(prompts[:1], direct[:1])
    batched = rubric.lm.answer_logprob(prompts[:3], direct[:3])[0].item()
    assert batched == pytest.approx(one.item(), abs=1e-4)
    assert rubric.lm.answer_logprob(prompts[:1], [""]).item() == 0.0


def test_gold_prefers_the_good_answer_to_each_flawed_one(rubric):
    names = list(BAD)
    scores = rubric.score([PROMPT] * (1 + len(names)), [GOOD] + [BAD[n] for n in names])
    assert scores.shape == (1 + len(names), 1)
    for name, s in zip(names, scores[1:, 0]):
        assert scores[0, 0] > s, f"gold does not prefer the good answer to the {name} one"


def test_gold_is_batch_independent_and_its_language_model_reads_each_text_once(rubric,
                                                                                monkeypatch):
    def fresh():  # the same gold with a language model that has read nothing yet
        lm = gold.FrozenLM(rubric.lm.model, rubric.lm.tokenizer)
        return gold.RubricGold(rubric.encoder, rubric.tokenizer, rubric.weights, lm=lm)

    a = fresh().score([PROMPT] * 3, [GOOD, BAD["off-topic"], GOOD])
    b = fresh().score([PROMPT], [GOOD])
    assert torch.allclose(a[:1], b, atol=1e-5) and a[0] == a[2]
    again = fresh()
    again.score([PROMPT] * 3, [GOOD, BAD["off-topic"], GOOD])
    assert len(again.lm.memo) == 4  # two answers, after their prompt and after a generic one
    monkeypatch.setattr(again.lm, "_read", lambda *args: pytest.fail("read a second time"))
    assert torch.equal(again.score([PROMPT], [BAD["off-topic"]]), a[1:2])


def test_coverage_uses_the_instruction_not_the_input_text(rubric):
    pilot = gold.RubricGold(rubric.encoder, rubric.tokenizer, config.PILOT_RUBRIC)
    c = pilot.components(["Summarise this passage about bees.\n\nBees pollinate flowers."],
                          ["Bees matter because they pollinate crops."])
    assert c["coverage"][0] == pytest.approx(1.0)  # the topic is "bee"; task words don't count


def test_hub_gold_code_path_on_a_local_stand_in(tmp_path):
    """The gpu profile's gold loader on a tiny local sequence classifier (no Hub)."""
    _, tokenizer = models.load_rm_backbone(get_config("smoke"))
    clf = BertForSequenceClassification(BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=64, num_labels=1))
    clf.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    hub_gold = gold.HubGold(str(tmp_path), batch_size=2)
    scores = hub_gold.score([PROMPT] * 3, [GOOD, BAD["off-topic"], BAD["too short"]])
    assert scores.shape == (3, 1)
    assert torch.equal(scores, hub_gold.score([PROMPT] * 3, [GOOD, BAD["off-topic"], BAD["too short"]]))
    assert torch.allclose(scores[:1], hub_gold.score([PROMPT], [GOOD]), atol=1e-5)
    # read in batches of similar length, returned in the input's order
    answers = [GOOD, BAD["off-topic"], BAD["too short"], GOOD + " " + GOOD, "Yes."]
    one_by_one = torch.cat([hub_gold.score([PROMPT], [a]) for a in answers])
    batches, encode = [], hub_gold._encode
    hub_gold._encode = lambda p, r: batches.append(r) or encode(p, r)
    assert torch.allclose(hub_gold.score([PROMPT] * 5, answers), one_by_one, atol=1e-5)
    assert batches == [["Yes.", BAD["too short"]], sorted(answers, key=len)[2:4],
                       [GOOD + " " + GOOD]]


def test_unreachable_hub_gold_names_the_cpu_profile(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match="RMENS_PROFILE=cpu"):
        gold.HubGold("OpenAssistant/no-such-reward-model-rmens")


def test_with_gold_keeps_the_score_and_every_rubric_term(rubric):
    answers = pd.DataFrame({"prompt": ["Name a fruit."] * 2,
                            "text": ["An apple.", "Pears are sweet fruit."]}, index=[7, 9])
    df = gold.with_gold(answers, rubric)
    assert list(df.columns[:3]) == ["prompt", "text", "gold"] and list(df.index) == [7, 9]
    terms = ("relevance", "specificity", "fluency", "repetition", "word_repetition", "length",
             "complete")
    assert gold.term_columns(df) == [f"gold_{t}" for t in terms]
    assert df["gold"].tolist() == pytest.approx(
        rubric.score(answers["prompt"].tolist(), answers["text"].tolist())[:, 0].tolist())
    assert df[gold.term_columns(df)].notna().all().all()  # joined row by row on the index

    class OneNumber:  # a Hub reward model: a score and no terms
        def score(self, prompts, responses):
            return torch.full((len(responses), 1), 2.5)

    hub = gold.with_gold(answers, OneNumber())
    assert hub["gold"].to_dict() == {7: 2.5, 9: 2.5} and gold.term_columns(hub) == []


def test_with_gold_in_chunks_keeps_each_chunk_and_resumes_after_an_interrupt(rubric, tmp_path):
    answers = pd.DataFrame({"prompt": ["Name a fruit."] * 5,
                            "text": ["An apple.", "Pears.", "A plum, ripe.", "Figs are sweet.",
                                     "Kiwi."]}, index=[3, 1, 4, 1, 5])
    whole = gold.with_gold(answers, rubric)
    chunked = gold.with_gold(answers, rubric, tmp_path, chunk_size=2)
    assert list(chunked.columns) == list(whole.columns) and list(chunked.index) == [3, 1, 4, 1, 5]
    pd.testing.assert_frame_equal(chunked, whole, atol=1e-5)
    assert len(list((tmp_path / "gold").iterdir())) == 3  # 2 + 2 + 1 answers

    class Interrupted:  # scores the first chunk, then the run is stopped
        calls = 0

        def score(self, prompts, responses):
            Interrupted.calls += 1
            if Interrupted.calls > 1:
                raise KeyboardInterrupt
            return torch.arange(len(responses), dtype=torch.float32)[:, None]

    with pytest.raises(KeyboardInterrupt):
        gold.with_gold(answers, Interrupted(), tmp_path / "hub", chunk_size=2)
    Interrupted.calls = -10  # the rerun scores only the chunks not kept
    resumed = gold.with_gold(answers, Interrupted(), tmp_path / "hub", chunk_size=2)
    assert resumed["gold"].tolist() == [0, 1, 0, 1, 0] and Interrupted.calls == -8


def test_table_terms_sum_to_the_score(rubric):
    answers = [GOOD, BAD["off-topic"], BAD["keyword stuffing"]]
    table = rubric.table([PROMPT] * 3, answers, decimals=None)
    assert torch.allclose(torch.tensor(table["gold"].to_numpy()),
                          rubric.score([PROMPT] * 3, answers)[:, 0], atol=1e-5)
    assert "fluency" in table and "word_repetition" in table


def test_the_study_gold_passes_the_held_out_pairs_that_the_pilot_gold_fails(rubric):
    """data/gold_pairs_2.jsonl, written before any gold scored it, and its criterion (data card):
    every degenerate answer ranked below its genuine twin, the direct answer above the filler in
    at least 11 of 13 pairs."""
    pilot = gold.RubricGold(rubric.encoder, rubric.tokenizer, config.PILOT_RUBRIC, lm=rubric.lm)
    kinds = ("answer vs filler", "genuine vs degenerate")
    margins = gold.pair_margins({"study": rubric, "pilot": pilot},
                                {kind: gold.held_out_pairs(kind) for kind in kinds})
    won = margins[margins["margin"] > 0].groupby(["gold", "set"]).size()
    assert won["study", "genuine vs degenerate"] == 5 and won["study", "answer vs filler"] >= 11
    assert won["pilot", "answer vs filler"] <= 5
    assert gold.wins(margins).index.tolist() == list(kinds)


def test_the_pilot_gold_still_scores_the_pilot_runs_as_they_were_scored(rubric):
    """The pilot's gold is config.PILOT_RUBRIC: it gives the committed step-0 answers the gold
    (and every term) they were given when the pilot ran."""
    step0 = pd.read_parquet(repo_root() / "results/pilot/ppo/beta0/eval_sft/eval.parquet")[:16]
    pilot = gold.RubricGold(rubric.encoder, rubric.tokenizer, config.PILOT_RUBRIC, lm=rubric.lm)
    again = gold.with_gold(step0[["prompt", "text"]], pilot)
    columns = ["gold", *gold.term_columns(step0)]
    assert sorted(columns) == sorted(c for c in again.columns if c.startswith("gold"))
    assert (again[columns] - step0[columns]).abs().max().max() < 1e-4
