"""DETR-family detectors exported from transformers to ONNX (`vigil models export DIR --to onnx`):
DETR, Conditional DETR, RT-DETR, RT-DETRv2 and D-FINE, with vigil's own numpy pre- and post-processing."""
