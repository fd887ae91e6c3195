"""The `pydcos` command's root group. Each noun is a subgroup in a module of its own."""

from __future__ import annotations

import click

from pydcos import __version__
from pydcos.cli.cluster import cluster
from pydcos.core.log import setup_logging


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pydcos")
@click.option("-v", "--verbose", is_flag=True, help="Log what happens (to stderr).")
def main(verbose: bool) -> None:
    """pydcos: a datacenter operating system in Python, after DC/OS 1.8."""
    setup_logging("INFO" if verbose else "WARNING")


main.add_command(cluster)
