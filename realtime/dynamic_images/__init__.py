"""Dynamic images: the rank-pooling maths (shared with training), the ring of recent crops and the
incremental builder that makes an event's DI pair."""
