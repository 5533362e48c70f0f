"""hipext: hip extensor assessment, rehabilitation and biomechanics."""

__version__ = "0.1.0"
