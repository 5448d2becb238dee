"""User-facing quantization errors (one line each, printed by the CLI)."""
from __future__ import annotations

from ..errors import EdgeSdkError


class QuantizationError(EdgeSdkError):
    """Bad quantization request or an int8 model whose quantization is inconsistent."""
