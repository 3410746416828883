"""Where the bundled example data lives, for the notebooks: ``sample_recording()`` finds ``recordings/sample``."""

from __future__ import annotations

from pathlib import Path

SAMPLE = Path("recordings") / "sample"


def repo_root(start: Path | None = None) -> Path:
    """The folder holding ``recordings/sample``: the current folder or one above it, else the kit's checkout."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / SAMPLE).is_dir():
            return folder
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / SAMPLE).is_dir():
        return checkout
    raise FileNotFoundError(
        f"could not find {SAMPLE} above {here} or in the kit's checkout; run the notebook from the repository"
    )


def sample_recording(start: Path | None = None) -> Path:
    """``recordings/sample``: 12 synthetic minutes of 5 made-up markets (not real market data)."""
    return repo_root(start) / SAMPLE
