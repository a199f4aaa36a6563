"""What a lesson shows on the page: the source of the function that carries its idea, so a
student reads the key code before the notebook uses it (as rasbt/LLMs-from-scratch writes the
algorithm in the notebook, then imports the package's twin)."""
from __future__ import annotations

import inspect

from IPython.display import Code, display


def source(obj) -> str:
    """The source of a function, method or class, as written in ``rmens_utils``."""
    return inspect.getsource(obj)


def show(*objects) -> None:
    """Display the source of each object, syntax-highlighted (plain text outside Jupyter)."""
    for obj in objects:
        display(Code(source(obj), language="python"))
