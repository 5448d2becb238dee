"""Target descriptors (targets/*.toml)."""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import EdgeSdkError

TARGETS_DIR = Path(__file__).resolve().parents[2] / "targets"


@dataclass
class Target:
    name: str
    arch: str
    raw: dict = field(default_factory=dict)

    def break_even(self, block: tuple[int, int], hw: int | None = None) -> float:
        return self.break_even_entry(block, hw)[0]

    def break_even_entry(self, block: tuple[int, int], hw: int | None = None,
                         table_name: str = "sparse_break_even") -> tuple[float, str]:
        """(break-even density, the table key that decided) for a block shape and, when given,
        the number of pixels (conv) or rows (FC) the layer multiplies. Keys "RxC@hw<=N" refine
        "RxC" for layers with at most N pixels (the smallest N that covers hw wins); then
        "RxC", then "default", then 0.5."""
        table = self.raw.get("cost", {}).get(table_name, {})
        base = f"{block[0]}x{block[1]}"
        if hw is not None:
            sized = []
            for key in table:
                if key.startswith(base + "@hw<="):
                    try:
                        sized.append((int(key.split("<=", 1)[1]), key))
                    except ValueError:
                        continue
            fits = sorted(k for k in sized if hw <= k[0])
            if fits:
                return float(table[fits[0][1]]), fits[0][1]
        for key in (base, "default"):
            if key in table:
                return float(table[key]), key
        return 0.5, "built-in default"


    def k_chunk(self, hw: int, cols: int, density: float) -> int:
        """Input channels per K chunk for an unstructured float32 sparse 1x1 conv over hw pixels
        with cols input channels and the given weight density, or 0 for the plain layout, from
        [cost.sparse_k_chunk]. Maps of at most max_hw pixels are chunked. A row of X in one
        pixel tile of the AVX-512 kernel (the whole map up to 208 px, else tiles of <= 128 px
        split evenly) is V 16-float vectors; a chunk holds enough channels for a row's nonzeros
        in it to feed about row_fma vector FMAs (each chunk costs a load and a store of the
        row's V partial-sum vectors), but its rows of X take at most x_bytes. With fewer than
        min_row_nnz nonzeros per row and chunk on average (after the chunks are evened out over
        K: 512 by 56 -> 10 chunks of 56; by 72 -> 8 of 64), or one chunk, the layer stays plain."""
        cfg = self.raw.get("cost", {}).get("sparse_k_chunk", {})
        max_hw, x_bytes = int(cfg.get("max_hw", 0)), int(cfg.get("x_bytes", 0))
        if hw > max_hw or x_bytes <= 0 or density <= 0:
            return 0
        tile_vecs = 13 if hw <= 208 else 8  # spmm_chunk_major in spmm-f32-64-avx512.c
        ntiles = -(-hw // (16 * tile_vecs))
        vecs = -(-(-(-hw // ntiles)) // 16)
        kc_max = max(8, x_bytes // (64 * vecs) // 8 * 8)
        want = float(cfg.get("row_fma", 0)) / (vecs * density)
        kc = min(kc_max, max(8, -(-math.ceil(want) // 8) * 8)) if want > 0 else kc_max
        if kc >= cols:
            return 0
        nch = -(-cols // kc)
        kc = -(-(-(-cols // nch)) // 8) * 8
        return kc if density * kc >= float(cfg.get("min_row_nnz", 0)) else 0


def available() -> list[str]:
    return sorted(p.stem for p in TARGETS_DIR.glob("*.toml"))


def load_target(name: str) -> Target:
    path = TARGETS_DIR / f"{name}.toml"
    if not path.is_file():
        raise EdgeSdkError(f"unknown target '{name}'; available: {', '.join(available()) or 'none'}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise EdgeSdkError(f"target descriptor {path.name} is not valid TOML: {e}") from None
    return Target(raw.get("name", name), raw.get("arch", ""), raw)
