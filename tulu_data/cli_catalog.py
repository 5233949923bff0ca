"""Seeing the catalog: `list`, `sources`, `show NAME` and `recipes`, each with `--json`."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from .cli_common import CatalogOpt, app, complete_names, console, load_cli_catalog, run_cli

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]
WIDE = 120  # from this terminal width on, descriptions are shown whole (wrapped), not cut to one line


def _first_sentence(text: str) -> str:
    """The first sentence of a description, for one-line listings."""
    first = " ".join(text.split()).split(". ")[0]
    return first.rstrip(".")


def _listing(title: str, headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> Table:
    """One row per entry: whole descriptions on wide terminals, one cut line each on narrow ones."""
    table = Table(title=title, title_justify="left")
    if console.width >= WIDE:
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers[:-1])]
        widths[-1] = min(widths[-1], 30)  # the sources / parts column wraps first
        for header, width in zip(headers[:-1], widths, strict=True):
            table.add_column(header, min_width=width, overflow="fold")
        table.add_column(headers[-1], overflow="fold", ratio=1)
        for *cells, text in rows:
            table.add_row(*cells, " ".join(text.split()))
        return table
    name_w = max([len(headers[0])] + [len(r[0]) for r in rows])
    kind_w = max([len(headers[1])] + [len(r[1]) for r in rows])
    available = max(20, console.width - name_w - kind_w - 13)  # 13: borders and padding of 4 columns
    third_w = min(30, max([len(headers[2])] + [len(r[2]) for r in rows]), max(10, available // 3))
    last_w = max(10, available - third_w)
    for header, width in zip(headers, (name_w, kind_w, third_w, last_w), strict=True):
        table.add_column(header, no_wrap=True, overflow="ellipsis", width=width)
    for name, kind, third, text in rows:
        table.add_row(name, kind, third, _first_sentence(text))
    return table


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# ---- list ------------------------------------------------------------------------------------


def catalog_listing(cat: Any) -> dict[str, list[dict]]:
    """Every dataset, mixture and collection of a catalog, as plain data (what `list --json` prints)."""
    from .mixtures import list_mixtures
    from .registry import get_recipe

    datasets = [
        {"name": d.name, "kind": get_recipe(d.recipe).kind, "recipe": d.recipe, "sources": list(d.sources),
         "description": d.description, "defined_in": cat.where(d.name)}
        for d in cat.datasets.values()
    ]
    mixtures = [
        {"name": m.name, "kind": "mixture", "parts": [{"dataset": p.dataset, "take": p.take} for p in m.parts],
         "description": m.description, "defined_in": str(m.path)}
        for m in list_mixtures(catalog=cat)
    ]
    collections = [
        {"name": c.name, "kind": "collection", "members": list(c.datasets), "description": c.description,
         "defined_in": cat.where(c.name)}
        for c in cat.collections.values()
    ]
    return {"datasets": datasets, "mixtures": mixtures, "collections": collections}


@app.command("list")
def list_cmd(catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """List catalog datasets, mixtures and collections (whole descriptions on wide terminals)."""

    def go():
        listing = catalog_listing(load_cli_catalog(catalog))
        if as_json:
            _print_json(listing)
            return
        rows = [(d["name"], d["kind"], ", ".join(d["sources"]), d["description"]) for d in listing["datasets"]]
        console.print(_listing("datasets", ("name", "kind", "sources", "description"), rows))
        parts = [(m["name"], "mixture", ", ".join(f"{p['dataset']} ({p['take']})" for p in m["parts"]), m["description"])
                 for m in listing["mixtures"]]
        console.print(_listing("mixtures", ("name", "kind", "parts", "description"), parts))
        if listing["collections"]:
            rows = [(c["name"], "collection", f"{len(c['members'])} members", c["description"])
                    for c in listing["collections"]]
            console.print(_listing("collections", ("name", "kind", "members", "description"), rows))

    run_cli(go)


@app.command("sources")
def sources_cmd(catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """List upstream sources: key, Hub id and pinned revision (or local path), files and format."""

    def go():
        cat = load_cli_catalog(catalog)
        rows = [source_record(src) for src in cat.sources.values()]
        if as_json:
            _print_json(rows)
            return
        table = Table(title="upstream sources", title_justify="left")
        for col in ("key", "hub id / path", "revision", "format", "files", "license"):
            table.add_column(col, overflow="fold")
        for r in rows:
            table.add_row(r["key"], r.get("path") or r["hub_id"], r["revision"], r["format"], ", ".join(r["data_files"]),
                          r["license"] or "")
        console.print(table)

    run_cli(go)


# ---- show ------------------------------------------------------------------------------------


def source_record(src: Any) -> dict:
    return {
        "key": src.key, "hub_id": src.hub_id, "revision": src.revision, "format": src.format,
        "data_files": list(src.data_files), "license": src.license, "homepage": src.homepage,
        **({"path": src.path} if src.is_local else {}),
    }


def describe(cat: Any, name: str) -> dict:
    """Everything the catalog says about `name` (a dataset, mixture, collection or source), as plain data."""
    from .catalog_layers import builtin_file
    from .errors import CatalogError
    from .mixtures import find_mixture
    from .names import did_you_mean
    from .registry import get_recipe

    if name in cat.datasets:
        spec = cat.datasets[name]
        rec = get_recipe(spec.recipe)
        return {
            "name": name, "type": "dataset", "kind": rec.kind, "defined_in": cat.where(name) or str(builtin_file()),
            "description": spec.description, "license": spec.license,
            "recipe": {"name": rec.name, "version": rec.version, "rule": rec.doc},
            "params": dict(spec.params), "rules": list(spec.rules), "departures": list(spec.departures),
            "sources": [source_record(cat.sources[k]) for k in spec.sources], "depends_on": list(spec.depends_on),
            "citations": list(spec.citations),
        }
    mixture = find_mixture(name, catalog=cat) if name in cat.mixtures else None
    if mixture is not None:
        return {
            "name": name, "type": "mixture", "defined_in": str(mixture.path), "description": mixture.description,
            "license": mixture.license,
            "parts": [{"dataset": p.dataset, "take": p.take, "split": p.split, "strict": p.strict, "upsample": p.upsample}
                      for p in mixture.parts],
            "filters": [dict(f) for f in mixture.filters],
        }
    if name in cat.collections:
        coll = cat.collections[name]
        return {"name": name, "type": "collection", "defined_in": cat.where(name) or str(builtin_file()),
                "description": coll.description, "members": list(coll.datasets), "repo_id": coll.repo_id}
    if name in cat.sources:
        return {"name": name, "type": "source", **source_record(cat.sources[name]),
                "description": cat.sources[name].description}
    names = [*cat.datasets, *cat.mixtures, *cat.collections, *cat.sources]
    raise CatalogError(f"{name!r} is not in the catalog{did_you_mean(name, names)}; `tulu-data list` shows every name")


def _render(info: dict) -> None:
    console.print(f"[bold]{info['name']}[/]  {info['type']}" + (f" ({info['kind']})" if "kind" in info else ""))
    console.print(f"[dim]defined in {info.get('defined_in', '')}[/]")
    if info.get("description"):
        console.print(" ".join(info["description"].split()))
    if "recipe" in info:
        recipe = info["recipe"]
        console.print(f"\n[bold]recipe[/] {recipe['name']} v{recipe['version']}: {' '.join(recipe['rule'].split())}")
    if info.get("params"):
        console.print("[bold]params[/] " + ", ".join(f"{k}={v!r}" for k, v in info["params"].items()))
    for title in ("rules", "departures"):
        if info.get(title):
            console.print(f"\n[bold]{title}[/]")
            for line in info[title]:
                console.print(f"  - {line}")
    if info.get("sources"):
        console.print("\n[bold]sources[/]")
        for src in info["sources"]:
            where = src.get("path") or f"{src['hub_id']} @ {src['revision']}"
            console.print(f"  {src['key']}: {where}" + (f"  files: {', '.join(src['data_files'])}" if src["data_files"] else ""))
    if info.get("parts"):
        table = Table(title="parts", title_justify="left")
        for col in ("dataset", "take", "split", "strict", "upsample"):
            table.add_column(col)
        for p in info["parts"]:
            table.add_row(p["dataset"], str(p["take"]), p["split"], str(p["strict"]).lower(), str(p["upsample"]).lower())
        console.print(table)
    if info.get("members"):
        console.print("[bold]members[/] " + ", ".join(info["members"]))
    if info.get("license"):
        console.print(f"[bold]license[/] {info['license']}")


@app.command("show")
def show_cmd(
    name: Annotated[str, typer.Argument(help="A dataset, mixture, collection or source.", autocompletion=complete_names)],
    catalog: CatalogOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """What the catalog says about one name: description, recipe and rules, parameters, sources, parts.

    Examples:

      tulu-data show ultrafeedback_mean_aspects

      tulu-data show preference_big_mixture --json
    """

    def go():
        info = describe(load_cli_catalog(catalog), name)
        _print_json(info) if as_json else _render(info)

    run_cli(go)


# ---- recipes ---------------------------------------------------------------------------------


def _param_words(param: Any) -> str:
    """A declared parameter in words: its meaning, then required / default / choices."""
    extra = "required" if param.required else (f"default {param.default!r}" if param.default not in (None, {}) else "")
    if param.choices:
        extra = ", ".join(filter(None, [extra, "one of " + "|".join(param.choices)]))
    return param.doc + (f" [{extra}]" if extra else "")


def recipe_records(cat: Any) -> list[dict]:
    """Every registered recipe: kind, version, rule, what it reads, its parameters, and the datasets using it.

    Configurable recipes declare their parameters (`recipe_params`); for the others, the parameters are
    those their catalog entries set.
    """
    from .recipe_params import declared
    from .registry import all_recipes

    declarations = declared()
    records = []
    for rec in sorted(all_recipes().values(), key=lambda r: r.name):
        if rec.name.startswith("_"):
            continue  # test-only recipes
        used = [d.name for d in cat.datasets.values() if d.recipe == rec.name]
        decl = declarations.get(rec.name)
        if decl is not None:
            params = {p.name: _param_words(p) for p in decl.params}
        else:
            params = {k: "" for k in sorted({k for d in cat.datasets.values() if d.recipe == rec.name for k in d.params})}
        records.append({
            "name": rec.name, "kind": rec.kind, "version": rec.version, "rule": rec.doc,
            "reads": decl.reads if decl else rec.reads, "params": params, "configurable": decl is not None, "used_by": used,
        })
    return records


@app.command("recipes")
def recipes_cmd(catalog: CatalogOpt = None, as_json: JsonOpt = False) -> None:
    """List the recipes a catalog entry can name: what each reads, its parameters and its rule."""

    def go():
        records = recipe_records(load_cli_catalog(catalog))
        if as_json:
            _print_json(records)
            return
        for group, title in ((True, "recipes for your own data (configured in YAML)"), (False, "Tulu recipes")):
            table = Table(title=title, title_justify="left", show_lines=True)
            for col in ("recipe", "kind", "reads", "params", "rule"):
                table.add_column(col, overflow="fold")
            for r in (r for r in records if r["configurable"] is group):
                params = "; ".join(f"{k}" + (f": {v}" if v else "") for k, v in r["params"].items())
                rule = _first_sentence(r["rule"]) if console.width < WIDE else " ".join(r["rule"].split())
                table.add_row(f"{r['name']} v{r['version']}", r["kind"], r["reads"], params, rule)
            console.print(table)
        console.print("[dim]tulu-data recipes --json for everything; docs/writing-recipes.md for the details[/]")

    run_cli(go)
