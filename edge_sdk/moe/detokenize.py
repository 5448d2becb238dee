"""Incremental detokenization: text pieces whose concatenation is exactly decode(all ids).

Each new id re-decodes the whole id list with the model's own decode (the same function the
final text comes from) and hands out only what was added to the text already handed out. A piece
is held back while the text ends in U+FFFD (a UTF-8 character split over byte-level tokens is
incomplete: nothing is printed until it is whole), while the last id is one of `hold_ids`
(byte-fallback tokens <0x..>: the `tokenizers` ByteFallback decoder turns a whole run of them
into U+FFFDs when any byte of the run is invalid, so a run is final only when it ends) or, when
the decode cleans up tokenization spaces (" ." -> "."), while its tail could still be rewritten
by that cleanup. finish() hands out the rest. Re-decoding everything costs O(n) per token in the
tokenizer's native code, small beside a decode step of the model (docs/moe.md, "Streaming").
"""
from __future__ import annotations

from collections.abc import Callable

# the longest of the cleanup patterns (hf_tokenizer._CLEANUP: " n't") less one: a tail starting
# at a space and shorter than this may still be rewritten by a later token
_CLEANUP_TAIL = 4


class IncrementalDecoder:
    """push(id) -> new text ("" while held back); finish() -> the rest of decode(ids)."""

    def __init__(self, decode: Callable[[list], str], cleanup: bool = False, hold_ids=frozenset()):
        self._decode = decode
        self._cleanup = cleanup
        self._hold = hold_ids
        self.ids: list[int] = []
        self.printed = ""

    def _stable(self, text: str) -> int:
        """How much of text no later token can change."""
        if text.endswith("\ufffd") or self.ids[-1] in self._hold:
            return len(self.printed)
        n = len(text)
        if self._cleanup:
            sp = text.rfind(" ", max(n - _CLEANUP_TAIL, 0))
            if sp >= 0:
                n = sp
        return n

    def _emit(self, text: str, upto: int) -> str:
        # text that does not extend what was handed out waits (finish() settles it)
        if upto <= len(self.printed) or not text.startswith(self.printed):
            return ""
        piece = text[len(self.printed):upto]
        self.printed = text[:upto]
        return piece

    def push(self, token: int) -> str:
        self.ids.append(int(token))
        text = self._decode(self.ids)
        return self._emit(text, self._stable(text))

    def finish(self) -> str:
        text = self._decode(self.ids)
        if text.startswith(self.printed):
            return self._emit(text, len(text))
        return ""  # cannot happen with a prefix-stable decode (tests/test_moe_stream.py)
