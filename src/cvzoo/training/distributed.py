"""Data-parallel runs (``trainer=ddp``): cvzoo starts one process per device, Hydra stays out of them.

Why not one of Lightning's own launchers (lightning 2.6, read in the installed source):

* ``strategy=ddp`` re-executes the script for every extra rank. Under Hydra,
  ``lightning/fabric/strategies/launchers/subprocess_script.py:_hydra_subprocess_cmd`` reuses
  ``sys.argv[1:]`` and appends ``hydra.run.dir=<HydraConfig.run.dir>``. In a multirun job argv still
  holds ``-m`` and the sweep's comma lists, so every child relaunches the whole sweep (into a new
  timestamped multirun dir), and ``run.dir`` is the single-run pattern, not the job's directory. The
  launcher also leaves ``LOCAL_RANK``/``WORLD_SIZE`` in ``os.environ``, so the next job of a
  sequential sweep thinks its ranks are created externally and waits for children that have exited;
  and its child observer SIGKILLs the main process (the whole sweep) when a rank exits non-zero.
* ``strategy=ddp_spawn`` keeps Hydra in the main process but only ``fit`` runs in the spawned ranks:
  the main process gets back the weights and ``callback_metrics``, not the per-epoch history and
  throughput of the ``RunStats`` callback nor the per-class values and confusion matrix that the test
  leaves on the module; ``trainer.test`` spawns the ranks again and shards the test split with a
  ``DistributedSampler`` that pads it with repeated samples.

So the Hydra process is a supervisor: it writes the record and starts N ranks with
``torch.multiprocessing`` (start method ``spawn``: nothing is re-executed, the resolved config is
pickled). Each rank runs Lightning's ``ddp`` strategy on processes created externally (the
``torchrun`` contract: ``MASTER_ADDR/PORT``, ``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``). After ``fit``
the ranks leave the process group and rank 0 tests the best checkpoint on the whole test split with a
one-device trainer. Rank 0 hands its record fields back through a pickle file in the run dir (a failed
rank hands back its exception). When a rank fails, ``torch.multiprocessing`` terminates the others
and raises in the supervisor, which writes the ``failed`` record: no rank waits forever in a
collective, and the next job of a sweep starts from a clean environment.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.environments.lightning import find_free_network_port
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.multiprocessing.spawn import ProcessException, ProcessRaisedException

from cvzoo.errors import ConfigError

RANK_ENV = ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK", "NODE_RANK")
# Lightning's own process-starting variants; inside a rank they all become plain ``ddp``.
SELF_LAUNCHING = ("ddp_spawn", "ddp_fork", "ddp_notebook")


class RankError(RuntimeError):
    """A rank of a data-parallel run failed; the message is its last error line."""


def _uses_gpu(trainer_cfg: Mapping[str, Any]) -> bool:
    """True when the trainer's accelerator resolves to CUDA."""
    accelerator = str(trainer_cfg.get("accelerator", "auto"))
    return accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())


def ddp_world_size(trainer_cfg: Mapping[str, Any]) -> int:
    """How many processes cvzoo starts for this run: the device count under a ``ddp*`` strategy, else 1."""
    strategy = str(trainer_cfg.get("strategy", "auto"))
    if not strategy.startswith("ddp") or int(trainer_cfg.get("num_nodes", 1) or 1) != 1:
        return 1  # multi-node: the cluster (srun, torchrun) creates the processes, Lightning joins them
    if "LOCAL_RANK" in os.environ:
        return 1  # already a rank started by someone else (torchrun)
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, str) and "," in devices:
        return len([d for d in devices.split(",") if d.strip()])
    if not isinstance(devices, (int, str)):  # a list of device ids
        return len(list(devices))
    if str(devices) in ("-1", "auto"):
        count = torch.cuda.device_count() if _uses_gpu(trainer_cfg) else 0
        if count == 0:
            raise ConfigError(
                f"trainer.devices={devices} means every GPU and none is visible; "
                "on CPU set trainer.accelerator=cpu trainer.devices=N (N gloo processes)"
            )
        return count
    return int(devices)


def one_process_config(cfg: DictConfig) -> DictConfig:
    """A ``ddp*`` run on one device runs without a strategy: Lightning's ``ddp`` would leave its rank
    variables in ``os.environ`` and the next job of a sweep would wait for ranks nobody starts."""
    strategy = str(cfg.trainer.get("strategy", "auto"))
    multi_node = int(cfg.trainer.get("num_nodes", 1) or 1) != 1
    if not strategy.startswith("ddp") or multi_node or "LOCAL_RANK" in os.environ:
        return cfg
    single = cfg.copy()
    with open_dict(single):
        single.trainer.strategy = "auto"
        single.trainer.sync_batchnorm = False
    return single


def _rank_config(cfg: DictConfig, world: int) -> dict[str, Any]:
    """The resolved config a rank receives: plain containers, Lightning's ``ddp`` on ``world`` devices."""
    config = OmegaConf.to_container(cfg, resolve=True)
    trainer = config["trainer"]
    if str(trainer.get("strategy")) in SELF_LAUNCHING:
        trainer["strategy"] = "ddp"
    if str(trainer.get("devices")) in ("-1", "auto"):
        trainer["devices"] = world
    return config


@contextlib.contextmanager
def _spawn_start_method() -> Iterator[None]:
    """Make ``spawn`` the default start method while ranks start (joblib's loky workers set ``loky``)."""
    previous = multiprocessing.get_start_method(allow_none=True)
    if previous in (None, "spawn", "fork", "forkserver"):
        yield
        return
    multiprocessing.set_start_method("spawn", force=True)
    try:
        yield
    finally:
        multiprocessing.set_start_method(previous, force=True)


def start_processes(fn: Callable[..., Any], args: tuple[Any, ...], nprocs: int) -> None:
    """Run ``fn(rank, *args)`` in ``nprocs`` fresh processes and wait; one failure terminates the rest."""
    with _spawn_start_method():
        torch.multiprocessing.spawn(fn, args=args, nprocs=nprocs, join=True, start_method="spawn")


def _handoff_path(run_dir: str | Path, rank: int) -> Path:
    """Where a rank leaves its record fields and error for the supervisor."""
    return Path(run_dir) / f".rank{rank}.pkl"


def _write_handoff(run_dir: str | Path, rank: int, record: dict[str, Any], err: BaseException | None) -> None:
    """Pickle this rank's record fields and error (the exception itself when it pickles)."""
    line = None if err is None else f"{type(err).__name__}: {err}"
    outcome = {"record": record, "error": err, "line": line, "traceback": traceback.format_exc()}
    try:
        data = pickle.dumps(outcome)
        pickle.loads(data)
    except Exception:  # noqa: BLE001 - an exception that does not round-trip travels as text
        data = pickle.dumps({**outcome, "error": None})
    _handoff_path(run_dir, rank).write_bytes(data)


def _read_handoffs(run_dir: Path, world: int) -> dict[int, dict[str, Any]]:
    """The outcomes the ranks left, by rank; the files are removed."""
    outcomes = {}
    for rank in range(world):
        path = _handoff_path(run_dir, rank)
        if path.is_file():
            outcomes[rank] = pickle.loads(path.read_bytes())
            path.unlink()
    return outcomes


def _rank_main(rank: int, world: int, port: int, threads: int, config: dict[str, Any], run_dir: str) -> None:
    """One rank: join the process group through the environment, fit (and test on rank 0)."""
    from cvzoo.training.run import fit_and_test  # run.py imports this module

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        WORLD_SIZE=str(world),
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        NODE_RANK="0",
    )
    os.environ.pop("SLURM_NTASKS", None)  # inside a SLURM task Lightning would take the ranks from SLURM
    torch.set_num_threads(threads)
    cfg = OmegaConf.create(config)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    record: dict[str, Any] = {}
    try:
        fit_and_test(cfg, Path(run_dir), record)
    except BaseException as err:
        _write_handoff(run_dir, rank, record, err)
        raise
    if rank == 0:
        _write_handoff(run_dir, rank, record, None)


def _raise_rank_failure(outcomes: dict[int, dict[str, Any]], failure: ProcessException | None) -> None:
    """Re-raise the lowest rank's error (its own exception when it travelled), or the spawn failure."""
    failed = [outcomes[rank] for rank in sorted(outcomes) if outcomes[rank].get("line")]
    if failed:
        outcome = failed[0]
        err = outcome["error"] or RankError(outcome["line"])
        err.rank_traceback = outcome["traceback"]  # type: ignore[attr-defined] - written to error.log
        raise err
    if failure is not None:
        text = failure.msg if isinstance(failure, ProcessRaisedException) else str(failure)
        lines = [line for line in text.strip().splitlines() if line.strip()]
        err = RankError(f"rank {failure.error_index}: {lines[-1] if lines else failure}")
        err.rank_traceback = text  # type: ignore[attr-defined]
        raise err


def run_ranks(cfg: DictConfig, run_dir: Path, record: dict[str, Any], world: int) -> None:
    """Fit and test on ``world`` processes; copy rank 0's record fields into ``record``."""
    config = _rank_config(cfg, world)
    for rank in range(world):
        _handoff_path(run_dir, rank).unlink(missing_ok=True)
    threads = max(1, torch.get_num_threads() // world)
    failure: ProcessException | None = None
    try:
        start_processes(_rank_main, (world, find_free_network_port(), threads, config, str(run_dir)), world)
    except ProcessException as err:
        failure = err
    outcomes = _read_handoffs(run_dir, world)
    record.update(outcomes.get(0, {}).get("record") or {})
    _raise_rank_failure(outcomes, failure)


def leave_process_group(trainer: L.Trainer) -> bool:
    """After a data-parallel fit every rank leaves the group; True on the rank that runs the test."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    for key in RANK_ENV:
        os.environ.pop(key, None)
    return trainer.global_rank == 0


def one_device_config(cfg: DictConfig, trainer: L.Trainer) -> DictConfig:
    """The config of a one-device trainer on this rank's device (the test after a data-parallel fit)."""
    device = trainer.strategy.root_device
    single = cfg.copy()
    with open_dict(single):
        single.trainer.strategy = "auto"
        single.trainer.devices = [device.index] if device.type == "cuda" else 1
        single.trainer.sync_batchnorm = False
        single.trainer.num_nodes = 1
    return single
