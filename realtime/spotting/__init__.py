"""When something moved: per-region motion, the spotter that finds micro-expressions and other
movements in it, the apex rule, spotting ground truth and its MEGC score."""
