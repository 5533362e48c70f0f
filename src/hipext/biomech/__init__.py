"""Biomechanics of the hip extensors: a fast surrogate of OpenSim models, strength capacity and task demand.

Importing this package is cheap: submodules are imported on demand (``hipext.biomech.capacity``,
``hipext.biomech.model``, ``hipext.biomech.tasks``, ...). Inside the biomechanics everything is SI and angles are
in radians; degrees appear only at the edges (CLI, reports, function names ending in ``_deg``).
"""
