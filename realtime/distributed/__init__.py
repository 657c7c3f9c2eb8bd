"""Ray: joining a cluster with progress and console mirroring, and one task per video for
`mer-process --ray`."""
