"""Detections stored at ingest: detection features, running them on media, and the
search by label (``search/detections/``)."""
