"""The evaluate-completion results as tables: a rich one per method, Markdown with methods side by side."""

from __future__ import annotations


def _mean(row: dict | None, metric: str) -> str:
    """``mean ± std`` over seeds, ``-`` when the method was refused or the metric undefined."""
    if row is None or row.get(metric) is None:
        return "-"
    return f"{row[metric]:.3f} ± {row[metric + '_std']:.3f}"


def _share(row: dict | None, metric: str) -> str:
    """A coverage share in percent, ``-`` for methods without a std."""
    return "-" if row is None or row.get(metric) is None else f"{100 * row[metric]:.0f}%"


def _coverage(row: dict | None, suffix: str = "") -> str:
    """``±1 / ±2`` coverage shares, on all hidden cells or (suffix ``_thin``) the one-cell rows."""
    return f"{_share(row, 'cover1' + suffix)} / {_share(row, 'cover2' + suffix)}"


def results_table(rows: list[dict], title: str = ""):
    """A rich Table: one line per method and fraction."""
    from rich.table import Table

    table = Table(title=title or None)
    heads = ("frac", "method", "nRMSE ↓", "Spearman ↑", "top-1 regret ↓", "±1 / ±2 std",
             "one-cell rows ±1 / ±2", "used", "s/fit")  # fmt: skip
    for name in heads:
        table.add_column(name, justify="left" if name in ("method", "used") else "right")
    previous = None
    for row in rows:
        if previous is not None and row["frac"] != previous:
            table.add_section()
        previous = row["frac"]
        used = ", ".join(f"{k}×{v}" for k, v in row["used"].items())
        table.add_row(f"{row['frac']:g}", row["method"], _mean(row, "nrmse"), _mean(row, "spearman"),
                      _mean(row, "regret"), _coverage(row), _coverage(row, "_thin"), used,
                      f"{row['seconds']:.2f}")  # fmt: skip
    return table


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
                 _mean(als, "regret"), _mean(auto, "regret"), _coverage(auto),
                 _coverage(auto, "_thin"), used]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
