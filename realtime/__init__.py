"""Real-time side of the micro-expression recognizer: sources, face tracking and alignment,
spotting, incremental dynamic images, sinks and the command-line tools built on them."""

import os

# The frame path shares two cores with MediaPipe and the capture thread: OpenMP threads that
# spin between parallel regions steal them (measured: small torch ops 9x slower). Must be set
# before torch is first imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
