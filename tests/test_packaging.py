"""The wheel holds every package of the source tree: `pip install .` (the README's quick start) must not
lose a subpackage that an editable install, which reads the tree, would still find."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_of_the_tree_is_in_the_wheel():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    in_tree = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "vecdash").rglob("__init__.py")}
    assert in_tree - listed == set(), "packages missing from pyproject.toml [tool.setuptools] packages"
    assert listed - in_tree == {"vecdash.styles"}, "listed packages that are not in the tree"
