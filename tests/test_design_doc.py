"""docs/DESIGN.md's module map matches the tree: every path it names exists, every Python package is named."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE_ROOTS = ("nli_app", "optimizers", "serving")


def layout_paths(text):
    """The paths the ``## Layout`` code block names (see its description in DESIGN.md for the format)."""
    section = text.split("## Layout", 1)[1]
    block = section.split("```\n", 2)[1]
    paths, folders = [], []
    for number, line in enumerate(block.splitlines(), 1):
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        if indent % 2:
            raise ValueError(f"DESIGN.md layout line {number}: odd indentation {indent}: {line!r}")
        level = indent // 2
        if level > len(folders):
            raise ValueError(f"DESIGN.md layout line {number}: indented below no folder: {line!r}")
        del folders[level:]
        names = re.split(r" {2,}", line.strip())[0].split(" ")
        for name in names:
            paths.append("/".join(folders + [name.rstrip("/")]))
        if len(names) == 1 and names[0].endswith("/"):
            folders.append(names[0].rstrip("/"))
    return paths


def packages():
    return sorted(str(p.parent.relative_to(ROOT)) for root in PACKAGE_ROOTS for p in (ROOT / root).rglob("__init__.py"))


def problems(text):
    paths = layout_paths(text)
    found = [f"DESIGN.md names a missing path {p}" for p in paths if not (ROOT / p).exists()]
    found += [f"DESIGN.md does not name the package {p}/" for p in packages() if p not in paths]
    return found


def test_design_doc_names_existing_paths_and_every_package():
    assert problems((ROOT / "docs" / "DESIGN.md").read_text()) == []


def test_checker_reads_nesting_and_reports_missing_and_unnamed():
    text = ("## Layout\n```\nnli_app/   the app\n  train/   trainer\n    trainer.py history.py   the loop\n"
            "  sharpness.py   gone\nserving/\n```\n")
    assert layout_paths(text) == ["nli_app", "nli_app/train", "nli_app/train/trainer.py", "nli_app/train/history.py",
                                  "nli_app/sharpness.py", "serving"]
    found = problems(text)
    assert "DESIGN.md names a missing path nli_app/sharpness.py" in found
    assert "DESIGN.md does not name the package nli_app/sharpness/" in found
    assert "DESIGN.md does not name the package optimizers/" in found
    assert not [f for f in found if "nli_app/train" in f]
    with pytest.raises(ValueError, match="indented below no folder"):
        layout_paths("## Layout\n```\n  orphan.py\n```\n")
