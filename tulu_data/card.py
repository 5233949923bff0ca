"""Dataset cards: a Hub-conventional README.md written from the catalog entry and the manifest."""

from __future__ import annotations

import yaml

from .catalog import Catalog

_SIZE_BUCKETS = [
    (1_000, "n<1K"),
    (10_000, "1K<n<10K"),
    (100_000, "10K<n<100K"),
    (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"),
    (100_000_000, "10M<n<100M"),
]


def size_category(rows: int) -> str:
    for limit, label in _SIZE_BUCKETS:
        if rows < limit:
            return label
    return "100M<n<1B"


_LICENSE_IDS = {"odc-by", "mit", "apache-2.0", "cc-by-4.0", "cc-by-nc-4.0", "cc-by-sa-4.0", "llama2", "other"}


def card_metadata(manifest: dict, license_id: str, pretty_name: str) -> dict:
    """The YAML header: valid Hub metadata, with `configs` listing every split's files."""
    total = sum(manifest.get("rows_out", {}).values())
    kind = manifest.get("kind", "preference")
    tags = ["tulu-data", kind]
    meta = {
        "license": license_id if license_id in _LICENSE_IDS else "other",
        "language": ["en"],
        "pretty_name": pretty_name,
        "size_categories": [size_category(total)],
        "task_categories": ["text-generation"],
        "tags": tags,
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": split, "path": f"data/{split}-*"} for split in sorted(manifest.get("splits", {}))
                ],
            }
        ],
    }
    splits = manifest.get("splits", {})
    if splits:
        # Exact sizes in `dataset_info` also key `datasets`' cache of a local folder: without them a
        # rebuilt folder at the same path can be served from a stale cache.
        feature_sets = [info.get("features") for info in splits.values()]
        same = all(f == feature_sets[0] for f in feature_sets)
        meta["dataset_info"] = {
            "features": feature_sets[0] if same else None,
            "splits": [
                {"name": s, "num_bytes": info.get("num_bytes", 0), "num_examples": info["rows"]} for s, info in sorted(splits.items())
            ],
            "download_size": sum(info.get("parquet_bytes", 0) for info in splits.values()),
            "dataset_size": sum(info.get("num_bytes", 0) for info in splits.values()),
        }
        if meta["dataset_info"]["features"] is None:
            del meta["dataset_info"]["features"]
    if meta["license"] == "other":
        meta["license_name"] = license_id.lower().replace(" ", "-")
    return meta


def _table(headers: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(manifest: dict, catalog: Catalog) -> str:
    """A dataset card in the Hub's conventions (YAML metadata header + markdown body)."""
    name = manifest["name"]
    spec = catalog.datasets.get(name)
    description = manifest.get("description") or (spec.description if spec else "")
    license_id = manifest.get("license") or (spec.license if spec else "other")
    meta = card_metadata(manifest, license_id, name)
    out = ["---", yaml.safe_dump(meta, sort_keys=False).rstrip(), "---", "", f"# {name}", "", description.strip(), ""]

    out += ["## Splits", "", _table(["split", "rows"], [[s, f"{n:,}"] for s, n in manifest.get("rows_out", {}).items()]), ""]

    sources = manifest.get("sources", [])
    if sources:
        out += ["## Upstream sources", ""]
        rows = []
        for src in sources:
            link = f"[{src['hub_id']}](https://huggingface.co/datasets/{src['hub_id']})"
            rows.append([src["key"], link, f"`{src['revision']}`", src.get("mode", ""), src.get("license") or "see upstream"])
        out += [_table(["key", "upstream", "pinned revision", "read from", "license"], rows), ""]

    parts = manifest.get("parts")
    if parts:
        out += ["## Mixture parts", ""]
        rows = [[p["name"], p["requested"], f"{p['given']:,}", f"{p['available']:,}", "yes" if p.get("shortfall") else ""] for p in parts]
        out += [_table(["part", "requested", "rows given", "rows available", "shortfall"], rows), ""]

    rules = list(spec.rules) if spec else list(manifest.get("rules", []))
    if rules:
        out += ["## How it was built", ""] + [f"- {r}" for r in rules] + [""]
    departures = list(spec.departures) if spec else list(manifest.get("departures", []))
    if departures:
        out += ["## Where this build departs from the published scripts", ""] + [f"- {d}" for d in departures] + [""]

    recipe = manifest.get("recipe")
    if recipe:
        out += [
            "## Recipe",
            "",
            f"Recipe `{recipe['name']}` version `{recipe['version']}`, seed {manifest.get('seed')}, "
            f"tulu-data {manifest.get('tool', {}).get('version')}. Parameters: `{recipe.get('params') or {}}`.",
            "",
        ]

    out += ["## Rows in and out", ""]
    rows_in = manifest.get("rows_in", {})
    if rows_in:
        out += [_table(["source", "rows read"], [[k, f"{v:,}"] for k, v in rows_in.items()]), ""]
    dropped = manifest.get("dropped", {})
    if dropped:
        out += [_table(["dropped because", "rows"], [[k, f"{v:,}"] for k, v in dropped.items()]), ""]
    else:
        out += ["No rows were dropped.", ""]
    notes = manifest.get("notes", {})
    if notes:
        out += ["Notes:", ""] + [f"- `{k}`: {v}" for k, v in notes.items()] + [""]

    out += [
        "## How to load",
        "",
        "```python",
        "from datasets import load_dataset",
        f'ds = load_dataset("path/to/{name}")  # or the Hub repo id it was pushed to',
        "```",
        "",
        f"Content hash of the data files: `{manifest.get('content_hash')}`. `manifest.json` holds the full provenance.",
        "",
    ]
    cites = [catalog.citations[c] for c in (spec.citations if spec else manifest.get("citations", [])) if c in catalog.citations]
    if cites:
        out += ["## Citation", "", "```bibtex", "\n\n".join(cites), "```", ""]
    return "\n".join(out)
