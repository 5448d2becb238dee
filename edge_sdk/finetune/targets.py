"""SRAM the target's firmware needs besides the training arena and the runtime contexts:
.data + .bss of the training firmware without the arena, plus its stack, as measured on the
emulated board (bench/finetune_mcu.py prints the figures; docs/finetune.md lists them)."""
from __future__ import annotations

from .errors import FinetuneError

# bytes; "host" has no firmware around the arena
OVERHEAD = {"host": 0, "cortex-m7": 8 * 1024 + 1024}


def overhead_bytes(target: str) -> int:
    try:
        return OVERHEAD[target]
    except KeyError:
        raise FinetuneError(f"unknown fine-tuning target '{target}'; choose from {sorted(OVERHEAD)}") from None
