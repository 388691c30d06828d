"""The box's own readings: ``system`` (raw readings under host_root),
``gateway`` (the gateway report's fields), ``bounded`` (readings with a
deadline).  May import config and the shared helpers, nothing else."""
