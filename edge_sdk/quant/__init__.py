"""int8 quantization: calibration, graph rewrite, fidelity report."""
from .errors import QuantizationError
from .quantize import quantize_graph
from .report import OutputFidelity, QuantReport

__all__ = ["QuantizationError", "OutputFidelity", "QuantReport", "quantize_graph"]
