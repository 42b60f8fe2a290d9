"""The georep command line (typer). Front end only: it parses, calls the lab, and renders.

Place in the data flow: the user's terminal. Importing this package gives the whole app:

- :mod:`.shared`: consoles, common options, one-line errors;
- :mod:`.connect`: where a command finds the running live lab (home, control API, regions);
- one module per command group, each importing only the two above: :mod:`.demo`, :mod:`.lab`
  (up, down, status), :mod:`.faults` (partition, heal, ...), :mod:`.replicator`, :mod:`.data`
  (put, get, delete, scan, resolve, update, conflicts, rights), :mod:`.dlq`,
  :mod:`.reconcile`, :mod:`.checkpoint`, :mod:`.harness` (test, check), :mod:`.report`,
  :mod:`.scenario`.

Every error a user can cause ends as one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys

import typer

from ..errors import GeorepError
from . import (
    checkpoint,
    data,
    demo,
    dlq,
    faults,
    harness,
    lab,
    reconcile,
    replicator,
    report,
    scenario,
)
from .shared import err, error_line

__all__ = ["app", "main"]

app = typer.Typer(
    help="georep: multi-region DynamoDB replication under network partitions, as a lab.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """georep: a lab for multi-region DynamoDB replication under network partitions.

    Regions are DynamoDB endpoints under moto; replicators stream each region's local writes
    to the others through link proxies, where partitions are injected.
    """


for _module in (demo, scenario, lab, faults, data, replicator, dlq, reconcile, checkpoint,
                harness, report):
    app.add_typer(_module.app)


def main() -> None:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        app()
    except GeorepError as exc:
        error_line(str(exc))
        sys.exit(2)
    except (BotoCoreError, ClientError) as exc:  # a region call outside runtime.reach's clients
        error_line(f"a region refused or did not answer: {exc}")
        sys.exit(2)
    except OSError as exc:  # a path given on the command line (--home, --run-dir, ...)
        if exc.filename is None:
            raise
        error_line(f"{exc.filename}: {exc.strerror or exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
