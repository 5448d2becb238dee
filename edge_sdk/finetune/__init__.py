"""On-device fine-tuning: plan (backward graph, sparse update selection, one static arena)
and a native trainer. See docs/finetune.md."""
from .errors import FinetuneError
from .plan import Plan, plan
from .trainer import Trainer

__all__ = ["plan", "Plan", "Trainer", "FinetuneError"]
