"""The two ways of running the pipeline: recorded videos into run folders (offline) and a camera
session with a window (live)."""
