"""Inference engines compiled from trained DIANet checkpoints (ONNX Runtime, TensorRT, PyTorch)."""
