"""Parity: does the exported graph give the eager model's logits on the same uint8 images?

Logits must agree within ``atol + rtol * max|reference|``; top-1 (classification) or per-pixel
(segmentation) answers must agree on at least ``min_agreement`` of the cases, where a flip between
classes whose reference logits are within the tolerance counts as a tie, not a disagreement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from cvzoo.data.memory import resize_uint8
from cvzoo.errors import ModelError

Runner = Callable[[np.ndarray], np.ndarray]


class ParityError(ModelError):
    """The exported model's outputs differ from the eager model's beyond the tolerances."""


@dataclass(frozen=True)
class Tolerance:
    """How close exported logits and answers must be to the eager model's."""

    atol: float = 1e-4
    rtol: float = 1e-3
    min_agreement: float = 0.99


def tolerance_from(cfg: Mapping[str, Any] | None, prefix: str = "") -> Tolerance:
    """Read ``{prefix}atol``, ``{prefix}rtol``, ``{prefix}min_agreement`` from a parity config."""
    cfg = cfg or {}
    base = Tolerance() if not prefix else Tolerance(5e-2, 1e-2, 0.95)
    return Tolerance(
        *(float(cfg.get(prefix + k, getattr(base, k))) for k in ("atol", "rtol", "min_agreement"))
    )


def compare(reference: np.ndarray, output: np.ndarray, tol: Tolerance) -> dict[str, Any]:
    """Max abs logit difference, raw and tie-aware argmax agreement, and whether both pass."""
    if reference.shape != output.shape:
        return {"ok": False, "error": f"output shape {output.shape} != reference {reference.shape}"}
    diff = float(np.abs(reference - output).max()) if reference.size else 0.0
    allowed = tol.atol + tol.rtol * float(np.abs(reference).max(initial=0.0))
    ref_arg, out_arg = reference.argmax(1), output.argmax(1)
    ref_at_out = np.take_along_axis(reference, np.expand_dims(out_arg, 1), 1).squeeze(1)
    tie = reference.max(1) - ref_at_out <= 2 * allowed
    agreement = float((ref_arg == out_arg).mean())
    tie_aware = float(((ref_arg == out_arg) | tie).mean())
    ok = bool(np.isfinite(output).all()) and diff <= allowed and tie_aware >= tol.min_agreement
    return {
        "ok": ok,
        "max_abs_diff": diff,
        "allowed_diff": allowed,
        "agreement": agreement,
        "agreement_ties_allowed": tie_aware,
    }


def random_images(batch: int, size: int, seed: int = 0) -> np.ndarray:
    """Uniform-noise uint8 NHWC images."""
    return np.random.default_rng(seed).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)


def resize_nhwc(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a uint8 NHWC batch to ``size x size`` (the datasets' bilinear resize)."""
    nchw = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return np.ascontiguousarray(resize_uint8(nchw, size).numpy().transpose(0, 2, 3, 1))


def check_inputs(
    validation: np.ndarray | None, sizes: list[int], batch: int
) -> list[tuple[str, int, np.ndarray]]:
    """Named uint8 batches per size: the validation images (resized) when available, and random noise."""
    inputs = []
    for size in sizes:
        if validation is not None and len(validation):
            images = (
                validation[:batch] if validation.shape[1] == size else resize_nhwc(validation[:batch], size)
            )
            inputs.append(("validation", size, images))
        inputs.append(("random", size, random_images(batch, size, seed=size)))
    return inputs


def run_checks(
    runner: Runner, reference: Runner, inputs: list[tuple[str, int, np.ndarray]], tol: Tolerance
) -> list[dict[str, Any]]:
    """Compare ``runner`` with ``reference`` on every input; a runtime error is a failed check."""
    rows = []
    for name, size, images in inputs:
        row: dict[str, Any] = {"input": name, "size": size, "batch": len(images)}
        expected = reference(images)
        try:
            row.update(compare(expected, runner(images), tol))
        except Exception as err:  # noqa: BLE001 - any runtime failure fails the check
            row.update(ok=False, error=f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}")
        rows.append(row)
    return rows


def summary(rows: list[dict[str, Any]], tol: Tolerance) -> dict[str, Any]:
    """Whether all checks passed, plus the worst difference and agreement, and the tolerances."""
    diffs = [r["max_abs_diff"] for r in rows if "max_abs_diff" in r]
    agree = [r["agreement_ties_allowed"] for r in rows if "agreement_ties_allowed" in r]
    return {
        "ok": bool(rows) and all(r["ok"] for r in rows),
        "max_abs_diff": max(diffs) if diffs else None,
        "min_agreement": min(agree) if agree else None,
        "tolerance": asdict(tol),
        "checks": rows,
    }


def failure_line(what: str, report: Mapping[str, Any]) -> str:
    """One line naming the first failed check and the knob to turn."""
    bad = next(r for r in report["checks"] if not r["ok"])
    detail = bad.get("error") or (
        f"max |diff| {bad['max_abs_diff']:.3g} (allowed {bad['allowed_diff']:.3g}), "
        f"agreement {bad['agreement_ties_allowed']:.3f} (min {report['tolerance']['min_agreement']})"
    )
    return f"{what} parity failed on {bad['input']} inputs at {bad['size']}px: {detail}"
