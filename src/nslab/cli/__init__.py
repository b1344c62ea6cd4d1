"""The `nslab` command: a manual lab in a persistent local world, validation, doctor.

nslab up                 build the seed lab (or --lab FILE) and return
nslab exec red -- ping -c 3 10.16.0.3
nslab shell red          an interactive shell inside namespace red
nslab status             what is up
nslab down               remove it all
nslab validate FILE...   check lab files (exit 2 on the first bad field)
nslab doctor             what this machine lacks, and how to get it
nslab explore / diff     every flow of a lab, measured; what a ruleset change changes
nslab changed --base REV the lab files a change touches (for diff in CI)
nslab mutate             would the scenarios notice a wrong rule? (ruleset mutation)

One module a group of commands: project (init, validate, doctor), manual (up, down,
status, shell, exec, diagram), reachability (explore, diff, changed), runs (run, report
merge, mutate); common holds the group and what they share.
"""

from nslab.cli import manual, project, reachability, runs  # noqa: F401  (each adds its commands to main)
from nslab.cli.common import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    main()
