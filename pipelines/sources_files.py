"""Embedded data sources (files). Registered with `pipelines.datasets.register_dataset`."""
