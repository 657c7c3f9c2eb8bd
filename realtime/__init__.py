"""Real-time side of the micro-expression recognizer and the foundation the other packages build on:
capture, face tracking and alignment, spotting, dynamic images, the pipeline, sinks, the apps and
their distribution, then the command-line tools (cli/, the only part that imports training or
engines). docs/architecture.md has the layers."""

import os

# The frame path shares two cores with MediaPipe and the capture thread: OpenMP threads that
# spin between parallel regions steal them (measured: small torch ops 9x slower). Must be set
# before torch is first imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
