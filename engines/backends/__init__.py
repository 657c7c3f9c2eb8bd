"""Engine backends, chosen by name: onnx (ONNX Runtime), tensorrt (TensorRT 10 plans), torch (eager).

Importing the package registers all three; ONNX Runtime is imported here, TensorRT only when a
plan is built or opened.
"""

from engines.backends import onnx, tensorrt, torch  # noqa: F401  (register the backends)
from engines.backends.base import (Backend, BackendEntry, get_backend, host_inputs, list_backends,
                                   register_backend)

__all__ = ["Backend", "BackendEntry", "get_backend", "host_inputs", "list_backends", "register_backend"]
