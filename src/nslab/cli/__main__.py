"""`python -m nslab.cli`: the `nslab` command (tests and CI call it so, without the script)."""

from nslab.cli import main

main()
