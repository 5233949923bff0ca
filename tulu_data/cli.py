"""The `tulu-data` command line."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from . import cli_catalog  # noqa: F401  (registers list, sources, show, recipes)
from .cli_checks import (
    check_name,
    check_out_folder,
    check_push_ready,
    check_repo_id,
    check_sources,
    parse_source_overrides,
)
from .cli_common import (
    CatalogOpt,
    OutOpt,
    SourcesOpt,
    app,
    complete_names,
    console,
    load_cli_catalog,
    run_cli,
)


@app.command("build")
def build_cmd(
    name: Annotated[
        str,
        typer.Argument(help="A catalog dataset, a mixture or a collection (see `tulu-data list`).", autocompletion=complete_names),
    ],
    sources: SourcesOpt = "hub",
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            help="KEY=PATH: read source KEY from PATH (a file, a folder of its files, or a glob) instead; "
            "repeatable, alongside --sources for the rest.",
        ),
    ] = None,
    out: OutOpt = Path("builds"),
    seed: Annotated[int, typer.Option(help="Seed for every random choice (keyed on stable row ids).")] = 42,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even when a matching build exists.")] = False,
    push: Annotated[bool, typer.Option("--push", help="Upload the build to the Hugging Face Hub afterwards.")] = False,
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="Hub repo for --push (default: from the catalog or NAME).")] = None,
    private: Annotated[bool, typer.Option("--private", help="With --push: create the repo as private.")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="With --push: the branch to commit to.")] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Build a dataset or mixture into OUT/NAME/ (parquet shards, dataset card, manifest.json).

    Parts already built from the same inputs, recipe and parameters are reused. Writes are atomic:
    an interrupted build leaves the previous output intact, or none at all. A collection builds each of
    its members into OUT/<member>/ (a source read by several members is parsed once); with --push they
    are published together as the named splits of one repo.

    Examples:

      tulu-data build ultrafeedback_mean_aspects --sources samples

      tulu-data build preference_big_mixture --sources /data/mirrors --out builds

      tulu-data build preference_big_mixture --push --repo-id my-org/preference-big-mixture

      tulu-data build tulu_2.5_preference_data --sources /data/mirrors --push
    """

    def go():
        from .build import Builder

        check_name(name)
        check_out_folder(out)
        check_sources(sources)
        if push:
            check_push_ready(repo_id)
        cat = load_cli_catalog(catalog)
        overrides = parse_source_overrides(source or [], cat)
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = (SpinnerColumn(), TextColumn("{task.description}"), TextColumn("[dim]{task.completed} done"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task(f"building {name}", total=None)

            def report(msg: str) -> None:
                console.log(msg)
                if msg.startswith(("built", "[dim]reusing")):
                    progress.advance(task)
                else:
                    progress.update(task, description=msg)

            builder = Builder(
                catalog=cat, sources=sources, out=out, seed=seed, force=force, report=report, source_overrides=overrides
            )
            is_collection = name in cat.collections
            paths = builder.build_collection(name) if is_collection else [builder.build(name)]
        if is_collection:
            _print_collection_summary(builder, name, paths)
            if push:
                from .push import run_push

                run_push(name, out, repo_id=repo_id, private=private, revision=revision, catalog=cat, console=console)
            return
        path = paths[0]
        _print_build_summary(builder, path)
        if push:
            from .push import push_build

            push_build(path, repo_id=repo_id, private=private, revision=revision, catalog=cat, console=console)

    run_cli(go)


def _print_collection_summary(builder, name: str, paths: list[Path]) -> None:
    events = {e.name: e for e in builder.events}  # one per dataset or mixture, with its manifest
    table = Table(title=f"collection {name}: {len(paths)} members", title_justify="left")
    for col, justify in (("member", "left"), ("rows", "right"), ("dropped", "right"), ("", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for path in paths:
        event = events[path.name]
        rows = sum(event.manifest.get("rows_out", {}).values())
        dropped = sum((event.manifest.get("dropped") or {}).values())
        table.add_row(path.name, f"{rows:,}", f"{dropped:,}", "[dim]reused[/]" if event.reused else "built")
    console.print(table)
    if builder.frame_memo.hits:
        console.print(f"[dim]{builder.frame_memo.hits} source reads served from memory (parsed once per build)[/]")
    console.print(f"each member is in {paths[0].parent}/<member>/; publish them as one repo with `tulu-data push {name}`")


def _print_build_summary(builder, path: Path) -> None:
    from .writer import read_manifest

    manifest = read_manifest(path) or {}
    console.print(f"[bold]{manifest.get('name')}[/] -> {path}")
    table = Table()
    table.add_column("split")
    table.add_column("rows", justify="right")
    for split, rows in manifest.get("rows_out", {}).items():
        table.add_row(split, f"{rows:,}")
    console.print(table)
    if manifest.get("parts"):
        ptable = Table(title="mixture parts", title_justify="left")
        for col in ("part", "requested", "available", "given", "note"):
            ptable.add_column(col, justify="right" if col in ("available", "given") else "left")
        for p in manifest["parts"]:
            note = "[yellow]shortfall: gave all it has[/]" if p["shortfall"] else ""
            ptable.add_row(p["name"], p["requested"], f"{p['available']:,}", f"{p['given']:,}", note)
        console.print(ptable)
    dropped = manifest.get("dropped") or {}
    if dropped:
        dtable = Table(title="dropped rows", title_justify="left")
        dtable.add_column("reason")
        dtable.add_column("rows", justify="right")
        for reason, n in dropped.items():
            dtable.add_row(reason, f"{n:,}")
        console.print(dtable)
    console.print(f"content hash [bold]{manifest.get('content_hash', '')[:16]}[/]  load with: datasets.load_dataset({str(path)!r})")



# ---- further commands (inspect, compare, push) register themselves below --------------------


@app.command("inspect")
def inspect_cmd(
    name: Annotated[
        str | None,
        typer.Argument(help="A build in --out, a local folder or .jsonl/.parquet file, or a Hub dataset id. Omit to list the builds in --out."),
    ] = None,
    out: OutOpt = Path("builds"),
    split: Annotated[str | None, typer.Option("--split", help="Only this split.")] = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="Also count tokens (Tulu chat format) with this fast tokenizer: a local folder or Hub id.")
    ] = None,
    show: Annotated[int, typer.Option("--show", help="Print N random rows per split in the Tulu chat format.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON instead of tables.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write length and score histograms to this PNG file.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for choosing the --show rows.")] = 42,
) -> None:
    """Figures about a dataset: splits, rows per source, drops, turns, lengths, pair statistics, duplicates.

    Examples:

      tulu-data inspect                      (list what has been built in builds/)

      tulu-data inspect preference_big_mixture --show 2

      tulu-data inspect ultrafeedback_mean_aspects --tokenizer path/to/tokenizer --plot uf.png

      tulu-data inspect allenai/tulu-2.5-preference-data --split hh_rlhf --json
    """

    def go():
        from .inspect import list_builds, render_builds, run_inspect

        check_out_folder(out, writing=False)
        if name is None:
            render_builds(list_builds(out), console, out)
            return
        run_inspect(name, out, split=split, tokenizer=tokenizer, show=show, as_json=as_json, plot=plot, seed=seed, console=console)

    run_cli(go)


@app.command("compare")
def compare_cmd(
    name: Annotated[str, typer.Argument(help="A build in --out (or a folder, file or Hub id).")],
    reference: Annotated[str, typer.Option("--reference", "-r", help="The released data: a .jsonl/.parquet file, a folder, a build, or a Hub id.")],
    out: OutOpt = Path("builds"),
    split: Annotated[str | None, typer.Option("--split", help="Split of NAME (default: train, or its only split).")] = None,
    reference_split: Annotated[
        str | None, typer.Option("--reference-split", help="Split of the reference (default: --split, NAME, or its only split).")
    ] = None,
    examples: Annotated[int, typer.Option("--examples", help="Example rows shown per kind of difference.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Match a build against a released dataset by prompt and by pair (SFT: by conversation).

    Examples:

      tulu-data compare hh_rlhf --reference tulu-2.5-hh_rlhf.parquet

      tulu-data compare ultrafeedback_mean_aspects -r allenai/tulu-2.5-preference-data --reference-split ultrafeedback_mean_aspects
    """

    def go():
        from .compare import run_compare

        check_out_folder(out, writing=False)
        run_compare(name, reference, out, split=split, reference_split=reference_split, examples=examples, as_json=as_json, console=console)

    run_cli(go)


@app.command("push")
def push_cmd(
    name: Annotated[str, typer.Argument(help="A build in --out, or a catalog collection (e.g. tulu_2.5_preference_data).")],
    out: OutOpt = Path("builds"),
    repo_id: Annotated[str | None, typer.Option("--repo-id", help="Hub dataset repo (default: the collection's repo_id, or NAME in your namespace).")] = None,
    private: Annotated[bool, typer.Option("--private", help="Create the repo as private.")] = False,
    revision: Annotated[str | None, typer.Option("--revision", help="Branch to commit to (created if missing).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Stage and list the files of the commit without uploading (a collection is assembled at OUT/NAME).")
    ] = False,
    retries: Annotated[
        int | None,
        typer.Option("--retries", min=1, help="Attempts per Hub call on transient errors (connection, timeout, 429, 5xx); default 5 or $TULU_DATA_PUSH_RETRIES."),
    ] = None,
    retry_wait: Annotated[
        float | None,
        typer.Option("--retry-wait", min=0.0, help="First wait in seconds between attempts, doubling each time; default 2 or $TULU_DATA_PUSH_RETRY_WAIT."),
    ] = None,
    catalog: CatalogOpt = None,
) -> None:
    """Upload a build (data, card, manifest) to the Hugging Face Hub as ONE commit.

    The token comes from HF_TOKEN or `hf auth login` and is never printed. Transient errors are retried
    with backoff; a failed push changes nothing (one commit is all-or-nothing) and leaves no staged files.

    Examples:

      tulu-data push preference_big_mixture --repo-id my-org/preference-big-mixture --private

      tulu-data push tulu_2.5_preference_data --repo-id my-org/tulu-2.5-preference-data
    """

    def go():
        from .push import RetryPolicy, run_push

        check_name(name)
        check_out_folder(out, writing=dry_run)
        check_repo_id(repo_id)
        default = RetryPolicy.from_env()
        policy = RetryPolicy(attempts=retries or default.attempts, base_delay=default.base_delay if retry_wait is None else retry_wait)
        run_push(
            name, out, repo_id=repo_id, private=private, revision=revision, catalog=load_cli_catalog(catalog), console=console, dry_run=dry_run, policy=policy
        )

    run_cli(go)


@app.command("decontam")
def decontam_cmd(
    name: Annotated[str, typer.Argument(help="A catalog dataset or mixture (built first), a build folder, or a .parquet/.jsonl file.")],
    against: Annotated[
        list[str] | None, typer.Option("--against", "-a", help="Eval sets or eval_sets groups of the catalog (repeatable; default: the 'default' group).")
    ] = None,
    sources: SourcesOpt = "hub",
    out: OutOpt = Path("builds"),
    ngram: Annotated[int, typer.Option(help="Word n-gram size.")] = 8,
    threshold: Annotated[float, typer.Option(help="An instance overlaps a row when more than this share of its tokens is covered (0: any shared n-gram).")] = 0.5,
    field: Annotated[str, typer.Option(help="user_turns, all_turns, or a text column.")] = "user_turns",
    split: Annotated[str | None, typer.Option("--split", help="Only this split.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a heat map (eval x source) to this PNG file.")] = None,
    seed: Annotated[int, typer.Option(help="Seed for building NAME if it must be built.")] = 42,
    catalog: CatalogOpt = None,
) -> None:
    """Report how much each eval set overlaps a dataset, per source (Tulu 3's rule: word 8-grams, > 50% of an
    instance covered; a source overlapping > 2% of an eval's instances is contaminated for it).

    Examples:

      tulu-data decontam tulu_v2_sft_mixture --sources samples

      tulu-data decontam preference_big_mixture --against gsm8k --against hendrycks_math --json

      tulu-data decontam path/to/train.parquet --sources /data/mirrors --plot overlap.png
    """

    def go():
        from .build import Builder
        from .decontam.report import run

        builder = Builder(catalog=load_cli_catalog(catalog), sources=sources, out=out, seed=seed)
        run(name, against or [], builder, out, ngram, threshold, field, split, as_json, plot, console)

    run_cli(go)


def main(argv: list[str] | None = None) -> None:
    """The console entry point: `--debug` is accepted anywhere on the line, not only first."""
    args = list(sys.argv[1:] if argv is None else argv)
    if "--debug" in args[1:]:
        args = ["--debug", *(a for a in args if a != "--debug")]
    app(args=args, prog_name="tulu-data")


if __name__ == "__main__":  # pragma: no cover
    main()
