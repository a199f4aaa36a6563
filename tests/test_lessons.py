"""Every notebook reads as a lesson: an opening that orients, the key code shown, exercises
with solutions (which run with the notebook, so the notebook tests execute them)."""
import re
from pathlib import Path

import nbformat
import pytest

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
    assert 2 <= len(asked) <= 4 and len(solutions) == len(asked)
    for number, cell in enumerate(solutions, 1):
        assert cell.cell_type == "code" and cell.source.startswith(f"#@title Solution {number}\n")
        assert cell.metadata["jupyter"]["source_hidden"] and cell.metadata["cellView"] == "form"
