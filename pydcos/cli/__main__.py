"""`python -m pydcos.cli ...`, the same as the `pydcos` console script."""

from pydcos.cli.main import main

main(prog_name="pydcos")
