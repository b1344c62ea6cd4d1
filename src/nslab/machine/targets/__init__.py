"""Targets: where commands run (local, ssh, vagrant). The protocol is
nslab.machine.targets.base, which every backend imports and nothing else of the package;
the registry that picks one from a run's settings is nslab.machine.targets.registry, the
one module that imports the backends (so no backend imports its way back to it)."""
