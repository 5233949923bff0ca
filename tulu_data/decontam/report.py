"""`tulu-data decontam NAME`: how much of each eval set a dataset overlaps, per source, without changing it.

NAME is a catalog dataset or a mixture (built or reused first, from `--sources`), a build folder, or a
.parquet/.jsonl file. The eval sets are read from `--sources` like any source.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import TuluDataError
from .step import SET_LEVEL_SHARE, DecontamConfig, decontaminate


def _load(name: str, builder: Any, out: Path, split: str | None) -> tuple[str, dict[str, pl.DataFrame]]:
    """(origin, splits) of a catalog dataset or mixture (built first), a build folder or a data file."""
    from ..inspect import load_any
    from ..mixtures import find_mixture
    from ..names import plain_name_problem

    is_name = plain_name_problem(name) is None  # a path is a build folder or a file, never a catalog entry
    if is_name and (name in builder.catalog.datasets or find_mixture(name, builder.mixtures, builder.catalog) is not None):
        path = builder.build(name)
        loaded = load_any(str(path), out, split)
        return f"build {path}", loaded.splits
    if not Path(name).exists() and not (Path(out) / name).exists():
        raise TuluDataError(
            f"{name!r} is not a catalog dataset, a mixture, a build in {out}, nor a file; `tulu-data list` shows the catalog"
        )
    loaded = load_any(name, out, split)
    return loaded.origin, loaded.splits


def compute(builder: Any, name: str, config: DecontamConfig, out: Path, split: str | None = None) -> dict:
    """The report as a dict: per split, the decontamination record of a `flag` run (rows unchanged)."""
    from .apply import eval_index, eval_source_records

    origin, splits = _load(name, builder, out, split)
    index = eval_index(builder, config)
    flagging = DecontamConfig(config.against, config.ngram, config.threshold, config.field, "flag")
    records = {s: decontaminate(df, index, flagging)[1] for s, df in sorted(splits.items())}
    for rec in records.values():
        rec.pop("action", None)
    return {
        "name": name,
        "origin": origin,
        "eval_sources": [{k: v for k, v in r.items() if k != "files"} for r in eval_source_records(builder, config)],
        "set_level_share": SET_LEVEL_SHARE,
        "splits": records,
    }


def rows_for_table(report: dict) -> list[dict]:
    """One row per split x eval x source (sources with no match are left out), then a total per eval."""
    out = []
    for split, rec in report["splits"].items():
        for label, per_eval in rec["by_source"].items():
            for name, c in per_eval.items():
                out.append({"split": split, "eval": name, "source": label, **c})
        for name, e in rec["evals"].items():
            out.append(
                {"split": split, "eval": name, "source": "(all)", "rows_matched": e["rows_matched"],
                 "instances_overlapped": e["overlapped"], "share": e["share"], "contaminated": e["contaminated"]}
            )
    return sorted(out, key=lambda r: (r["split"], r["eval"], r["source"] == "(all)", r["source"]))


def render(report: dict, console: Any) -> None:
    from rich.table import Table

    for split, rec in report["splits"].items():
        table = Table(
            title=f"{report['name']} [{split}]: {rec['rows_matched']:,} of {rec['rows_in']:,} rows overlap an eval set "
            f"(word {rec['ngram']}-grams, > {rec['threshold']:.0%} of an instance covered)",
            title_justify="left",
        )
        table.caption = (
            "rows: training rows matched; instances: eval instances overlapped; share: of the eval's instances; "
            f"> {SET_LEVEL_SHARE:.0%}: contaminated by the set-level rule"
        )
        for col in ("eval", "source", "rows", "instances", "share", f"> {SET_LEVEL_SHARE:.0%}"):
            table.add_column(col, justify="left" if col in ("eval", "source") else "right", overflow="fold")
        for row in (r for r in rows_for_table(report) if r["split"] == split):
            table.add_row(
                row["eval"], row["source"], f"{row['rows_matched']:,}", f"{row['instances_overlapped']:,}",
                f"{row['share']:.2%}", "[red]yes[/]" if row["contaminated"] else "",
            )
        console.print(table)
        short = {n: e["too_short"] for n, e in rec["evals"].items() if e["too_short"]}
        if short:
            console.print("[dim]instances shorter than the n-gram (not testable): " + ", ".join(f"{n} {k}" for n, k in short.items()) + "[/]")


def plot(report: dict, path: Path) -> Path:
    """A heat map of the share of each eval's instances overlapped, per source (one panel per split)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    splits = list(report["splits"].items())
    fig, axes = plt.subplots(1, len(splits), figsize=(7 * len(splits), 5), squeeze=False)
    for ax, (split, rec) in zip(axes[0], splits, strict=True):
        evals = list(rec["evals"])
        labels = sorted(rec["by_source"]) or ["(none)"]
        grid = [[rec["by_source"].get(lb, {}).get(e, {}).get("share", 0.0) * 100 for e in evals] for lb in labels]
        image = ax.imshow(grid, cmap="Reds", vmin=0, vmax=max(5.0, max(max(r) for r in grid)), aspect="auto")
        ax.set_xticks(range(len(evals)), evals, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_title(f"{report['name']} [{split}]: % of eval instances overlapped")
        fig.colorbar(image, ax=ax)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(
    name: str, against: list[str], builder: Any, out: Path, ngram: int, threshold: float, field: str,
    split: str | None, as_json: bool, plot_path: Path | None, console: Any,
) -> dict:
    """What the command does: compute, then print a table or JSON, and draw the plot if asked."""
    from .step import parse_decontam

    config = parse_decontam({"against": against or ["default"], "ngram": ngram, "threshold": threshold, "field": field}, "decontam")
    report = compute(builder, name, config, out, split)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        render(report, console)
    if plot_path is not None:
        plot(report, plot_path)
        if not as_json:
            console.print(f"plot written to {plot_path}")
    return report
