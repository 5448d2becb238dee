"""Errors users can act on. The CLI prints `str(err)` on one line and exits 1."""


class EdgeSdkError(Exception):
    """Base class for every error meant for the user."""


class ModelError(EdgeSdkError):
    """The input model is malformed or inconsistent."""


class UnsupportedOpError(ModelError):
    def __init__(self, op: str, node: str, model: str, frontend: str):
        self.op, self.node, self.model = op, node, model
        super().__init__(
            f"unsupported {frontend} op '{op}' (node '{node}') in {model}; "
            f"run 'edge-sdk ops' for the supported list"
        )


class ArtifactError(EdgeSdkError):
    """An .esm file is corrupt, truncated or from an incompatible version."""


class RuntimeFailure(EdgeSdkError):
    """The native runtime refused or failed to run an artifact."""
