"""Sweeps: train a grid of run configs (`superposition sweep SPEC --out DIR`), resumable and fault-tolerant, and
gather one tidy results table.

- `spec`: the spec file (a base config and axes over its fields, as a grid or zipped lists) expanded into points,
  every point's config validated before anything trains;
- `plan`: points into runs (toy points that differ only per instance share one multi-instance run);
- `store`: the sweep directory (plan, run directories, per-run state) and the worker's task;
- `run`: training the runs through an executor (`superposition.executors`) and the results table;
- `status`: done, running, failed and pending, read from the directory;
- `figures`: the results over the axes (`superposition plot SWEEP_DIR`).

>>> from superposition.sweeps.spec import Generated
>>> Generated(logspace=(0, -2, 3)).values()
[1.0, 0.1, 0.01]
"""

from .figures import sweep_figures
from .run import SweepResult, results_table, run_sweep
from .spec import Point, Sweep, SweepSpec, expand, load_sweep, read_spec
from .status import sweep_status
from .store import check_sweep_dir, is_sweep_directory

__all__ = ["Point", "Sweep", "SweepResult", "SweepSpec", "check_sweep_dir", "expand", "is_sweep_directory",
           "load_sweep", "read_spec", "results_table", "run_sweep", "sweep_figures", "sweep_status"]
