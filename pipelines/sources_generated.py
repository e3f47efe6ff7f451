"""Embedded data sources (generated). Registered with `pipelines.datasets.register_dataset`."""
