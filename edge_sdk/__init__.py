"""edge-sdk: sparse, quantized, flash-ready models and a native runtime to run them."""
