"""Faces in a frame: MediaPipe's mesh, the facial regions, alignment to a canonical crop, stabilisation."""
