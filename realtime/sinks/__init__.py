"""Where results go: the run folder (events, movements, frames, evidence, summary), the overlay,
the timeline and the HTML report."""
