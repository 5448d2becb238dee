"""Mixture-of-experts language models: export (HF directory -> artifact + expert bundle),
expert streaming runtime (edge_sdk.Generator). docs/moe.md."""
from .format import MoEConfig, write_artifact, write_bundle  # noqa: F401
from .generator import GenerationResult, Generator  # noqa: F401

__all__ = ["Generator", "GenerationResult", "MoEConfig", "write_artifact", "write_bundle"]
