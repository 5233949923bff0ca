"""Training layer: SFT, DPO, reward-model and PPO entry points over catalog datasets and mixtures.

Run one with ``python -m training.sft|dpo|rm|ppo --mix NAME``; ``--help`` lists the Tulu flags with
their Tulu 2 / 2.5 defaults, ``--help-all`` every flag. trl does the SFT, DPO and reward training; this package resolves the data,
applies the Tulu chat format, caches tokenized data and launches.
"""
