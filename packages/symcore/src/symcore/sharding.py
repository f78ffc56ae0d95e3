"""FSDP (PyTorch's FSDP2 ``fully_shard``) through Lightning's ``ModelParallelStrategy``.

Lightning's older ``FSDPStrategy`` wraps the model itself but refuses CPU and flattens parameters (which breaks
any per-parameter rule such as "no weight decay on norms", decided by ``p.dim()``). With ``ModelParallelStrategy``
the LightningModule shards itself in ``configure_model``: every block becomes its own FSDP unit, parameters stay
``DTensor``s with their original shapes, and the same code runs on CPU (gloo) and CUDA (nccl). Select it with
``--trainer.strategy lightning.pytorch.strategies.ModelParallelStrategy
--trainer.strategy.data_parallel_size N --trainer.strategy.tensor_parallel_size 1`` (N = devices).
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn


def shard_modules(module: nn.Module, units: Iterable[nn.Module]) -> bool:
    """In `configure_model`: fully_shard each unit in order (inner blocks first, then the modules that contain them)
    over the data-parallel mesh. A no-op (False) unless the trainer runs ModelParallelStrategy, or when done already.

    The LightningModule itself is not a unit: Lightning calls `training_step`, not `forward`, so FSDP's unshard
    hooks on it would never run. Every parameter must therefore lie inside some unit (checked), or its gradients
    would not be synchronised across ranks.
    """
    mesh = getattr(module, "device_mesh", None)  # set by ModelParallelStrategy, None otherwise
    if mesh is None:
        return False
    from torch.distributed.fsdp import FSDPModule, fully_shard

    units = list(units)
    if any(isinstance(u, FSDPModule) for u in units):  # configure_model runs again for validate/test after fit
        return False
    covered = {id(p) for u in units for p in u.parameters()}
    left = [n for n, p in module.named_parameters() if id(p) not in covered]
    if left:
        raise ValueError(f"parameters outside every FSDP unit would not be synchronised: {left[:5]}")
    dp = mesh["data_parallel"] if mesh.mesh_dim_names and "data_parallel" in mesh.mesh_dim_names else mesh
    for unit in units:
        fully_shard(unit, mesh=dp)
    return True


def full_state_dict(module: nn.Module) -> dict:
    """The module's complete, unsharded state dict on CPU. Under FSDP this is a collective: every rank must call it
    (e.g. before rank 0 alone writes an export), and only rank 0 receives the tensors (the others get an empty
    dict); otherwise it is just `state_dict()`."""
    from torch.distributed.tensor import DTensor

    if not any(isinstance(p, DTensor) for p in module.parameters()):
        return module.state_dict()
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
