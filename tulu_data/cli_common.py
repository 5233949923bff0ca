"""What every `tulu-data` command shares: the app, consoles, common options and the error wrapper."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .cli_checks import debug_enabled, error_lines

app = typer.Typer(
    help=(
        "Build, inspect and publish LLM post-training data from a declarative catalog.\n\n"
        "Every dataset is a catalog entry (its upstream sources pinned by revision or local files, the "
        "recipe that transforms them, its parameters); mixtures combine datasets. The built-in catalog "
        "holds the Tulu 2 / 2.5 recipes; add your own with a tulu-data.yaml (see `tulu-data show` and "
        "`tulu-data recipes`).\n\n"
        "Start with: tulu-data list; tulu-data build ultrafeedback_mean_aspects --sources samples"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
console = Console(log_path=False)
err_console = Console(stderr=True)

SourcesOpt = Annotated[
    str,
    typer.Option(
        "--sources",
        "-s",
        help="Where upstream files come from: 'hub' (download the pinned revisions), 'samples' (the small "
        "synthetic files shipped with tulu-data), or a folder DIR holding DIR/<source_key>/ mirrors of the "
        "upstream files in their upstream format.",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="Folder that receives OUT/NAME/ build folders.")]


def complete_names(incomplete: str) -> list[str]:
    """Shell completion: catalog datasets, mixtures and collections starting with what was typed."""
    try:
        from .catalog import load_catalog

        catalog = load_catalog()
    except Exception:  # completion must never fail loudly
        return []
    names = [*catalog.datasets, *catalog.mixtures, *catalog.collections]
    return sorted(n for n in names if n.startswith(incomplete))


CatalogOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--catalog",
        help="A user catalog file to add to the built-in catalog (repeatable). tulu-data.yaml in the working "
        "directory (or a parent) and the files in $TULU_DATA_CATALOG are added too.",
    ),
]


def load_cli_catalog(paths: list[Path] | None):
    """The layered catalog: built-in, then --catalog files, tulu-data.yaml, $TULU_DATA_CATALOG."""
    from .catalog import load_catalog

    return load_catalog(*(paths or []))


_debug = False  # set by --debug for this invocation


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (or set TULU_DATA_DEBUG=1).")
    ] = False,
) -> None:
    global _debug
    _debug = debug


def _show_traceback() -> bool:
    return _debug or debug_enabled()


def run_cli(fn):
    """Turn every error into one or two plain lines and exit code 1 (130 when interrupted), not a traceback."""
    try:
        return fn()
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        if _show_traceback():
            raise
        err_console.print("[bold red]interrupted[/]")
        raise typer.Exit(130) from None
    except Exception as err:
        if _show_traceback():
            raise
        first, *rest = error_lines(err)
        err_console.print(Text.assemble(("error: ", "bold red"), first), soft_wrap=True)
        for line in rest:
            err_console.print(Text(line, style="dim"), soft_wrap=True)
        raise typer.Exit(1) from None


def _first_sentence(text: str) -> str:
    """The first sentence of a description, for one-line listings."""
    first = " ".join(text.split()).split(". ")[0]
    return first.rstrip(".")


def _one_line_table(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """A table with one line per row: the last two columns are cut to fit the terminal."""
    name_w = max([len(headers[0])] + [len(r[0]) for r in rows])
    kind_w = max([len(headers[1])] + [len(r[1]) for r in rows])
    available = max(20, console.width - name_w - kind_w - 13)  # 13: borders and padding of 4 columns
    third_w = min(30, max([len(headers[2])] + [len(r[2]) for r in rows]), max(10, available // 3))
    last_w = max(10, available - third_w)
    table = Table(title=title, title_justify="left")
    for header, width in zip(headers, (name_w, kind_w, third_w, last_w), strict=True):
        table.add_column(header, no_wrap=True, overflow="ellipsis", width=width)
    for name, kind, third, text in rows:
        table.add_row(name, kind, third, _first_sentence(text))
    return table


