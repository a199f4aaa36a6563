"""Every notebook reads as a lesson: an opening that orients, the key code shown, exercises
with solutions (which run with the notebook, so the notebook tests execute them)."""
import re
from pathlib import Path

import nbformat
import pytest

from conftest import load_script

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("0*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_a_lesson(path):
    cells = nbformat.read(path, as_version=4).cells
    opening = cells[0].source
    for part in ("**In this lesson you will**", "**Needs**", "**Time**", "**In the papers**"):
        assert part in opening, f"{path.name}: its opening lacks {part}"
    goals = re.findall(r"^- ", opening.split("**In this lesson you will**")[1].split("**Needs**")[0],
                       flags=re.M)
    assert 2 <= len(goals) <= 4
    assert any("show(" in c.source for c in cells if c.cell_type == "code"), "no key code shown"
    exercises = [c for c in cells if c.source.startswith("## Exercises")]
    assert len(exercises) == 1
    asked = re.findall(r"^\d+\. \*\*", exercises[0].source, flags=re.M)
    solutions = [c for c in cells if "solution" in c.metadata.get("tags", [])]
    assert 2 <= len(asked) <= 5 and len(solutions) == len(asked)
    for number, cell in enumerate(solutions, 1):
        assert cell.cell_type == "code" and cell.source.startswith(f"#@title Solution {number}\n")
        assert cell.metadata["jupyter"]["source_hidden"] and cell.metadata["cellView"] == "form"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_closing_section_leads_with_three_to_five_takeaways(path):
    cells = nbformat.read(path, as_version=4).cells
    closing = cells[[c.source.startswith("## Exercises") for c in cells].index(True) - 1].source
    assert closing.startswith("## ") and "\n\n**Takeaways**" in closing.split("\n###")[0]
    points = re.findall(r"^\d+\. \*\*", closing.split("**Takeaways**")[1].split("\n###")[0],
                        flags=re.M)
    assert 3 <= len(points) <= 5


tidy_notebooks = load_script("scripts/tidy_notebooks.py")


def test_tidying_keeps_each_bars_last_state_and_hides_what_solutions_print():
    home = str(Path.home())
    notebook = {"cells": [
        {"cell_type": "code", "metadata": {"execution": {"iopub.status.idle": "2026-12-07"}},
         "execution_count": 3, "source": "train()", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": ["member 1/3\n"]},
            {"output_type": "stream", "name": "stderr", "text": ["\r", "scoring:   0%| 0/4"]},
            {"output_type": "stream", "name": "stderr", "text": ["\r", "scoring: 100%| 4/4\n"]},
            {"output_type": "stream", "name": "stderr", "text": ["\rcleared\r    \r"]},
            {"output_type": "stream", "name": "stdout",
             "text": [f"saved to {tidy_notebooks.ROOT}/runs and {home}/x\n", "\n", "done\n"]},
            {"output_type": "execute_result", "data": {"text/plain": ["0.5"]}, "metadata": {},
             "execution_count": 3}]},
        {"cell_type": "code", "metadata": {"tags": ["solution"]}, "execution_count": 4,
         "source": "#@title Solution 1\nprint(42)",
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["42\n"]}]},
        {"cell_type": "markdown", "metadata": {}, "source": "\rtext"}]}
    tidied = tidy_notebooks.tidy(notebook)
    first, solution, markdown = tidied["cells"]
    assert first["metadata"] == {} and first["execution_count"] == 3
    assert [o.get("text") for o in first["outputs"]] == [
        ["member 1/3\n"], ["scoring: 100%| 4/4\n"],
        ["saved to <repo>/runs and ~/x\n", "\n", "done\n"], None]
    assert solution["outputs"] == [] and solution["execution_count"] is None
    assert markdown == notebook["cells"][2]  # text is left as written
    assert notebook["cells"][1]["outputs"]  # the notebook given is not changed
    assert tidy_notebooks.tidy(tidied) == tidied


def test_every_committed_notebook_is_tidy():
    assert tidy_notebooks.main(["--check", *map(str, NOTEBOOKS)]) == 0, (
        "run: python scripts/tidy_notebooks.py notebooks/*.ipynb")


def test_the_readme_is_a_landing_page_with_the_ways_in_on_its_first_screen():
    readme = (NOTEBOOKS[0].parent.parent / "README.md").read_text()
    assert len(readme.split()) < 1000  # detail lives under docs/
    first_screen = readme.splitlines()[:25]
    assert "## Three ways in" in first_screen
    assert all(any(way in line for line in first_screen) for way in ("**Read**", "**On Colab**",
                                                                        "**Locally**"))
