"""The README and docs/: short README, its set-up block runs what CI runs, links that resolve,
and no notes about how the project was built (no issue numbers, no lent machines)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
PAGES = [README, *DOCS]
README_MAX_LINES = 300

CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\]\(([^)\s]+)\)")  # the target of [text](target)
INTERNAL_WORDING = (
    re.compile(r"\(issue \d+\)"),
    re.compile(r"\blent\b", re.IGNORECASE),
    re.compile(r"\bthis session\b", re.IGNORECASE),
)


def page_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def ci_test_command() -> str:
    """The command of `.ci/run`'s last line, without pip's `-q`."""
    last = (REPO / ".ci" / "run").read_text().strip().splitlines()[-1]
    return " ".join(word for word in last.split() if word != "-q")


def test_the_readme_is_short():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines; move detail to docs/ (at most {README_MAX_LINES})"
    )


def test_the_readme_first_block_holds_the_ci_command():
    command = ci_test_command()
    first_block = CODE_BLOCK.search(README.read_text()).group(1)
    assert command in first_block.splitlines(), (
        f"README.md's first code block must hold `{command}`, the command .ci/run runs"
    )


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_relative_links_point_to_files(page):
    missing = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue  # http(s), mailto, or an anchor on the same page
        path = target.split("#", 1)[0]
        if not (page.parent / path).exists():
            missing.append(target)
    assert not missing, f"{page_id(page)} links to missing files: {missing}"


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_no_notes_about_how_the_project_was_built(page):
    found = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(page.read_text().splitlines(), 1)
        if any(pattern.search(line) for pattern in INTERNAL_WORDING)
    ]
    assert not found, f"{page_id(page)} mentions issues or lent machines: {found}"


def test_the_patterns_find_what_they_guard_against():
    text = "See [the data](docs/data.md#formats), [a page](https://example.org) and [x](nope.md)."
    assert LINK.findall(text) == ["docs/data.md#formats", "https://example.org", "nope.md"]
    flagged = ["fixed (issue 12)", "an H100 lent to us", "in this session"]
    kept = ["fails silently", "a lenticular lens", "see the issue tracker"]
    assert all(any(p.search(line) for p in INTERNAL_WORDING) for line in flagged)
    assert not any(any(p.search(line) for p in INTERNAL_WORDING) for line in kept)
