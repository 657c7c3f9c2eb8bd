"""Real-time side of the micro-expression recognizer: sources, face tracking and alignment,
spotting, incremental dynamic images, sinks and the command-line tools built on them."""
