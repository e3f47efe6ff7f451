"""deepzoo: the command line and the small shared utilities (atomic files, logging) of the project.

The Python API lives in the flow's own packages: ``architectures`` (registry and models),
``pipelines`` (data, tasks, training), ``tuning``, ``export`` and ``serving``.
"""

__version__ = "0.1.0"
