"""The stages composed: one recognition pipeline per stream, its classifier worker thread, and
work-ahead of the alignment on a second thread."""
