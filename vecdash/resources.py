"""Where shipped files live: styles are top-level `styles/` in the repo and `vecdash/styles` in the wheel."""

from __future__ import annotations

from pathlib import Path


def styles_dir() -> Path:
    try:
        from importlib.resources import files

        path = Path(str(files("vecdash.styles")))
        if path.is_dir() and any(path.glob("*.tcss")):
            return path
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parent.parent / "styles"


def stylesheets() -> list[Path]:
    """base.tcss first, then one file per pane, in name order."""
    d = styles_dir()
    files = sorted(d.glob("*.tcss"))
    return sorted(files, key=lambda p: (p.name != "base.tcss", p.name))
