"""Personal data under control: per-person keys, sealed log texts, export and erasure."""
