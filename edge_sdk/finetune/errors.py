from ..errors import EdgeSdkError


class FinetuneError(EdgeSdkError):
    """A fine-tuning plan that cannot be made (unsupported op, over budget, bad option)."""
