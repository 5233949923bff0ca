"""PPO's four models sharded with FSDP2 (``--sharding fsdp``), and the sums taken over processes.

Each decoder layer is its own ``fully_shard`` unit, so a forward gathers one layer's weights at a time
and frees them after (``reshard_after_forward``). That holds for generation too: ``generate`` runs the
policy's forward once per new token and each forward gathers the layers one by one, so the whole policy
is never held unsharded on one device (the cost: one all-gather of the policy's weights per generated
token; every process must run as many decoding steps as the slowest, hence ``synced_gpus``).

Units: a causal LM (policy, reference) is its decoder layers plus the rest (embeddings, final norm,
``lm_head``) as the root unit. A scorer (value, reward model) is called as backbone plus head
(``training.rollout.token_scores``), so its layers, its backbone and its head are separate units.
The frozen reference and reward models are sharded the same way, without gradients or optimizer state,
and with ``--offload_frozen`` their shards live in CPU memory and are copied in per layer.
Under ``--bf16`` the trained models all-gather bf16 copies of their fp32 shards and reduce gradients in
fp32 (FSDP2's ``MixedPrecisionPolicy``); the frozen ones are bf16 already.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist
from torch import nn

SHARDINGS = ("ddp", "fsdp")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def sum_over_processes(tensor: torch.Tensor) -> torch.Tensor:
    """The sum of ``tensor`` over all processes (itself on one process)."""
    if not is_distributed():
        return tensor
    total = tensor.detach().clone()
    dist.all_reduce(total, op=dist.ReduceOp.SUM)
    return total


def device_mesh(device: torch.device) -> Any:
    """A one-dimensional mesh over all processes on ``device``'s type (cpu with gloo, cuda with nccl)."""
    from torch.distributed.device_mesh import init_device_mesh

    if not dist.is_initialized():  # one process, not started by a launcher: a group of one
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend, store=dist.HashStore(), rank=0, world_size=1)
    return init_device_mesh(device.type, (dist.get_world_size(),))


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """A transformers model's decoder layers (Llama, Mistral, Qwen, OLMo... keep them in ``.layers``)."""
    layers = getattr(model.base_model, "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ValueError(f"--sharding fsdp: cannot find the decoder layers of {type(model).__name__}")
    return layers


def scorer_head(model: nn.Module) -> nn.Module | None:
    """The output head of a sequence classifier (``score`` or ``classifier``); None for a causal LM."""
    return getattr(model, "score", None) or getattr(model, "classifier", None)


def shard(model: nn.Module, mesh: Any, **options: Any) -> nn.Module:
    """``fully_shard`` per decoder layer, then the rest (see the module docstring for the units)."""
    from torch.distributed.fsdp import fully_shard

    for layer in decoder_layers(model):
        fully_shard(layer, mesh=mesh, **options)
    head = scorer_head(model)
    if head is None:
        fully_shard(model, mesh=mesh, **options)
    else:
        fully_shard(model.base_model, mesh=mesh, **options)
        fully_shard(head, mesh=mesh, **options)
    return model


def shard_trained(model: nn.Module, mesh: Any, device: torch.device, bf16: bool) -> nn.Module:
    """Shard the policy or value model (fp32 shards; bf16 all-gathers under ``--bf16``)."""
    from torch.distributed.fsdp import MixedPrecisionPolicy

    precision = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32) if bf16 else None
    options = {"mp_policy": precision} if precision is not None else {}
    return shard(model.to(device), mesh, **options)


def shard_frozen(model: nn.Module, mesh: Any, device: torch.device, offload: bool) -> nn.Module:
    """Shard a frozen model; with ``offload`` its shards stay in CPU memory."""
    from torch.distributed.fsdp import CPUOffloadPolicy

    if offload:
        return shard(model, mesh, offload_policy=CPUOffloadPolicy(pin_memory=device.type == "cuda"))
    return shard(model.to(device), mesh)
