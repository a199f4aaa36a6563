import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from rmens_utils import get_config, gold, models

PROMPT = gold.RUBRIC_EXAMPLES_PROMPT
GOOD = gold.RUBRIC_EXAMPLES["good"]
BAD = {k: v for k, v in gold.RUBRIC_EXAMPLES.items() if k != "good"}


@pytest.fixture(scope="module")
def rubric():
    encoder, tokenizer = models.load_rm_backbone(get_config("smoke"))
    return gold.RubricGold(encoder, tokenizer)


def test_text_statistics_against_hand_values():
    assert gold.repetition("one two three four five") == 0.0
    assert gold.repetition("a b c a b c") == pytest.approx(1 - 3 / 4)
    assert gold.length_score(30) == 1.0 and gold.length_score(3) == 0.0
    assert gold.length_score(75) == pytest.approx(0.5) and gold.length_score(150) < 0
    assert gold.content_words("The cats are sleeping on the mats") == {"cat", "sleeping", "mat"}


def test_gold_prefers_the_good_answer_to_each_flawed_one(rubric):
    names = list(BAD)
    scores = rubric.score([PROMPT] * (1 + len(names)), [GOOD] + [BAD[n] for n in names])
    assert scores.shape == (1 + len(names), 1)
    for name, s in zip(names, scores[1:, 0]):
        assert scores[0, 0] > s, f"gold does not prefer the good answer to the {name} one"


def test_gold_is_deterministic_and_batch_independent(rubric):
    a = rubric.score([PROMPT, PROMPT], [GOOD, BAD["off-topic"]])
    b = rubric.score([PROMPT], [GOOD])
    assert torch.allclose(a[:1], b, atol=1e-5)


def test_coverage_uses_the_instruction_not_the_input_text(rubric):
    c = rubric.components(["Summarise this passage about bees.\n\nBees pollinate flowers."],
                          ["Bees matter because they pollinate crops."])
    assert c["coverage"][0] == pytest.approx(1.0)  # the topic is "bee"; task words don't count
