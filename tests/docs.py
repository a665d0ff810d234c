"""The project's documentation as one text, for tests that hold it to the code: the README and docs/."""

from __future__ import annotations

from offline.engine import ROOT_DIR


def documentation() -> str:
    return "\n".join(path.read_text() for path in [ROOT_DIR / "README.md", *sorted((ROOT_DIR / "docs").glob("*.md"))])
