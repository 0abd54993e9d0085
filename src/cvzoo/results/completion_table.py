"""The evaluate-completion table as Markdown: baselines and ``auto`` side by side per fraction."""

from __future__ import annotations

BASELINES = ("bias", "als")


def _mean(row: dict | None, metric: str, spread: bool = True) -> str:
    """``mean ± std`` over seeds, ``-`` when the method was refused or the metric undefined."""
    if row is None or row.get(metric) is None:
        return "-"
    return f"{row[metric]:.3f} ± {row[metric + '_std']:.3f}" if spread else f"{row[metric]:.3f}"


def _share(row: dict | None, metric: str) -> str:
    """A coverage share in percent."""
    return "-" if row is None or row.get(metric) is None else f"{100 * row[metric]:.0f}%"


def markdown_table(rows: list[dict], name: str) -> str:
    """One line per fraction: nRMSE, Spearman and top-1 regret of bias, ALS and auto; auto's
    coverage on all hidden cells and on those whose row holds one kept cell."""
    head = ("| matrix | kept | nRMSE bias | nRMSE ALS | nRMSE auto | Spearman bias | Spearman auto | "
            "regret bias | regret ALS | regret auto | auto ±1 / ±2 std | one-cell rows ±1 / ±2 | "
            "auto used |")  # fmt: skip
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    by_frac: dict[float, dict[str, dict]] = {}
    for row in rows:
        by_frac.setdefault(row["frac"], {})[row["method"]] = row
    for frac, methods in by_frac.items():
        bias, als, auto = (methods.get(m) for m in ("bias", "als", "auto"))
        used = ", ".join(f"{k} {v}/{auto['seeds']}" for k, v in auto["used"].items()) if auto else "-"
        cells = [name, f"{frac:g}", _mean(bias, "nrmse"), _mean(als, "nrmse"), _mean(auto, "nrmse"),
                 _mean(bias, "spearman"), _mean(auto, "spearman"), _mean(bias, "regret"),
                 _mean(als, "regret"), _mean(auto, "regret"),
                 f"{_share(auto, 'cover1')} / {_share(auto, 'cover2')}",
                 f"{_share(auto, 'cover1_thin')} / {_share(auto, 'cover2_thin')}", used]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
