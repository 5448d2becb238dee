"""Errors users can act on. The CLI prints `str(err)` on one line and exits 1."""


class EdgeSdkError(Exception):
    """Base class for every error meant for the user."""


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none), for one-line
    errors built from a library's multi-line messages."""
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


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
