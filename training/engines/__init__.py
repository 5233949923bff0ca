"""Exports of our recipes to external RL engines (``python -m training.ppo --engine NAME --export DIR``).

No engine is imported here or anywhere in the package: an export writes files that the engine reads in
its own environment.
"""
