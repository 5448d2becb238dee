"""edge-sdk: sparse, quantized, flash-ready models and a native runtime to run them."""
from .errors import ArtifactError, EdgeSdkError, ModelError, UnsupportedOpError
from .export import Artifact, export
from .runtime.session import Session
from .finetune import Trainer  # noqa: E402  on-device fine-tuning (edge_sdk/finetune)
from .moe.generator import Generator  # noqa: E402  MoE text generation with streamed experts (edge_sdk/moe)

__all__ = ["export", "Artifact", "Session", "Trainer", "Generator", "EdgeSdkError", "ModelError", "UnsupportedOpError",
           "ArtifactError"]
__version__ = "0.1.0"
