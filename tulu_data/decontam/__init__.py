"""Decontamination against eval sets and deduplication, as declarative build steps.

Modules, in the order data flows: `text` (pinned tokens), `evalsets` (eval sources of the catalog),
`index` (n-gram index and column-wise scan), `step` (decontaminate), `dedup` (exact + MinHash LSH),
`apply` (hooks into builds), `report` (the `tulu-data decontam` command), `card` (the card section),
`reference` (a plain-Python scan with the same rule, for tests and the benchmark).
"""
