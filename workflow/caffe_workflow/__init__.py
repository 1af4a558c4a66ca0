"""CaFFe workflow: per-image processing, catalog merge and FiftyOne ingest."""
