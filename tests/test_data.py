import json
from collections import Counter

import pytest

from rmens_utils import data

MINIMUM_ROWS = {"sft": 300, "pref": 2000, "rl": 500, "eval": 200}


@pytest.fixture(scope="module")
def splits():
    return {s: data.load_local_split(s) for s in data.SPLITS}


def test_splits_have_the_promised_sizes_and_schema(splits):
    for name, ds in splits.items():
        assert len(ds) >= MINIMUM_ROWS[name], name
        assert tuple(ds.column_names) == data.COLUMNS
    assert all(o.strip() for o in splits["sft"]["output"])


def test_local_files_have_no_malformed_rows():
    for split in data.SPLITS:
        rows = data.read_jsonl(data.data_dir() / f"{split}.jsonl")
        assert len(data.validate_rows(rows, split, split)) == len(rows)


def test_no_duplicates_and_no_instruction_shared_between_splits(splits):
    seen = {}
    for name, ds in splits.items():
        counts = Counter(zip(ds["instruction"], ds["input"]))
        assert max(counts.values()) == 1, f"duplicate rows in {name}"
        for instruction in set(ds["instruction"]):
            assert seen.setdefault(instruction, name) == name, (
                f"{instruction!r} is in both {seen[instruction]} and {name}")
    ids = [i for ds in splits.values() for i in ds["id"]]
    assert len(ids) == len(set(ids))


def test_task_mix_is_diverse(splits):
    for name, ds in splits.items():
        counts = Counter(ds["task"])
        assert len(counts) >= 8, name
        assert max(counts.values()) / len(ds) < 0.25, name


def test_malformed_rows_are_rejected_with_count_and_example():
    rows = [{"instruction": "Explain tides.", "input": ""},
            {"instruction": "   ", "input": ""},
            {"instruction": 3},
            {"instruction": "Name a colour.", "input": ["not", "text"]}]
    with pytest.warns(UserWarning, match=r"rejected 3 of 4 .*row 1, empty instruction"):
        good = data.validate_rows(rows, "rl", "test")
    assert [r["instruction"] for r in good] == ["Explain tides."]
    assert set(good[0]) == set(data.COLUMNS)


def test_all_rows_malformed_is_an_error():
    with pytest.raises(ValueError, match="No valid rows"):
        data.validate_rows([{"instruction": ""}], "eval", "test")


def test_sft_rows_need_a_demonstration():
    with pytest.warns(UserWarning, match="without a demonstration"):
        good = data.validate_rows([{"instruction": "a", "output": "b"},
                                   {"instruction": "c", "output": ""}], "sft", "t")
    assert len(good) == 1


def test_bad_json_line_names_the_line(tmp_path):
    path = tmp_path / "eval.jsonl"
    path.write_text('{"instruction": "ok"}\n{oops\n')
    with pytest.raises(ValueError, match=r"eval.jsonl:2"):
        data.read_jsonl(path)


@pytest.mark.parametrize("name", ["gold_pairs.jsonl", "gold_pairs_2.jsonl"])
def test_gold_pairs_are_well_formed_and_cover_every_task_type(name):
    rows = data.read_jsonl(data.data_dir() / name)
    assert all(set(r) == {"kind", "flaw", "task", "prompt", "better", "worse"} for r in rows)
    assert all(isinstance(v, str) and v.strip() for r in rows for v in r.values())
    assert all(r["better"] != r["worse"] for r in rows)
    filler = [r for r in rows if r["kind"] == "answer vs filler"]
    assert len(filler) == 13 and len({r["task"] for r in filler}) == 13
    assert {r["kind"] for r in rows} == {"answer vs filler", "genuine vs degenerate"}


def test_an_empty_split_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "eval.jsonl").write_text("\n")
    with pytest.raises(ValueError, match=r"eval.jsonl has no rows"):
        data.load_local_split("eval", tmp_path)


def test_unknown_split_lists_the_valid_ones():
    with pytest.raises(ValueError, match="sft, pref, rl, eval"):
        data.load_local_split("train")


def test_alpaca_farm_loader_maps_to_the_same_schema(tmp_path):
    """A local file in AlpacaFarm's format (a JSON list) stands in for the Hub file."""
    records = [
        {"instruction": "Give two uses of vinegar.", "input": "", "output": "Cleaning and cooking.",
         "preference": 1, "output_1": "a", "output_2": "b"},
        {"instruction": "Summarise:", "input": "Cats sleep a lot.", "output": "Cats nap."},
        {"instruction": "", "input": "", "output": "dropped"},
    ]
    path = tmp_path / "preference.json"
    path.write_text(json.dumps(records))
    with pytest.warns(UserWarning, match="rejected 1 of 3"):
        pref = data.load_alpaca_farm("pref", path=str(path))
    assert tuple(pref.column_names) == data.COLUMNS
    assert pref["instruction"] == ["Give two uses of vinegar.", "Summarise:"]
    assert pref["output"] == ["", ""]  # preference prompts carry no demonstration
    assert data.prompt_text(pref[1]) == "Summarise:\n\nCats sleep a lot."


def test_alpaca_farm_sft_keeps_demonstrations(tmp_path):
    path = tmp_path / "sft.json"
    path.write_text(json.dumps([{"instruction": "Say hi.", "input": "", "output": "Hi!"}]))
    sft = data.load_alpaca_farm("sft", path=str(path))
    assert sft[0]["output"] == "Hi!" and sft[0]["task"] == "alpaca_farm"


def test_alpaca_farm_unreachable_names_the_cpu_profile(tmp_path):
    with pytest.raises(RuntimeError, match="RMENS_PROFILE=cpu"):
        data.load_alpaca_farm("eval", path=str(tmp_path / "missing.json"))
