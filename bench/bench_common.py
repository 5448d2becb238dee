"""Helpers shared by the bench/ scripts."""
from __future__ import annotations

import platform


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def write_marked(doc, block: str, begin: str, end: str, heading: str = "") -> None:
    """Put `block` (which carries its own begin/end markers) into `doc` in place of the old one.

    The docs are shared by several scripts: only the text between this script's markers
    changes; a block not there yet is appended, under `heading` when given.
    """
    from pathlib import Path

    doc = Path(doc)
    text = doc.read_text() if doc.exists() else f"# {doc.stem.capitalize()}\n"
    if begin in text and end in text:
        text = text[:text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + (f"\n\n{heading}" if heading else "") + "\n\n" + block + "\n"
    doc.write_text(text)
