"""Embedded data sources (foundations). Registered with `pipelines.datasets.register_dataset`."""
