"""The numpy reference executor: THE oracle for what every canonical op computes."""
from .executor import run

__all__ = ["run"]
