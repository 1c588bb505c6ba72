"""The results table: spread over repeats, hueyd/huey ratio, issue 8's goals.

Rows are metrics, grouped by scenario; a cell shows ``min / median / max`` over the
repeats (one value when there was one repeat). The ratio is hueyd's median over
huey's; the ``better`` column says which way is good for that metric.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from scenarios import Scenario

HEADERS = ["scenario", "metric", "unit", "better", "huey min / med / max",
           "hueyd min / med / max", "hueyd/huey", "goal", "met"]


@dataclass
class Results:
    """Samples per scenario and system, plus what went wrong."""

    systems: list[str]
    samples: dict[str, dict[str, list[dict]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, scenario: str, system: str, repeat: int, sample: dict) -> None:
        self.samples.setdefault(scenario, {}).setdefault(system, []).append(sample)
        for problem in sample.get("problems", []):
            self.problems.append(f"{scenario} {system} repeat {repeat + 1}: {problem}")

    def values(self, scenario: str, system: str, key: str, scale: float) -> list[float]:
        return [s[key] * scale for s in self.samples.get(scenario, {}).get(system, [])
                if s.get(key) is not None]

    def median(self, scenario: str, system: str, key: str) -> float | None:
        values = self.values(scenario, system, key, 1.0)
        return statistics.median(values) if values else None


def number(value: float) -> str:
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def spread(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return number(values[0])
    return " / ".join(number(v) for v in (min(values), statistics.median(values), max(values)))


def rows(results: Results, scenarios: list[Scenario]) -> list[list[str]]:
    table = []
    for scenario in scenarios:
        for i, metric in enumerate(scenario.metrics):
            cells = {name: results.values(scenario.name, name, metric.key, metric.scale)
                     for name in ("huey", "hueyd")}
            med = {name: statistics.median(v) if v else None for name, v in cells.items()}
            ratio = (med["hueyd"] / med["huey"]
                     if med["hueyd"] is not None and med["huey"] else None)
            goal = metric.goal
            met = goal.met(None if med["hueyd"] is None else med["hueyd"] / metric.scale,
                           ratio) if goal else None
            table.append([
                scenario.title if i == 0 else "", metric.label, metric.unit,
                "higher" if metric.higher_is_better else "lower",
                spread(cells["huey"]), spread(cells["hueyd"]),
                "-" if ratio is None else f"{ratio:.2f}x",
                str(goal) if goal else "", {True: "yes", False: "NO", None: ""}[met],
            ])
    return table


def text_table(table: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [HEADERS, *table]) for i in range(len(HEADERS))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(HEADERS), line(["-" * w for w in widths])]
    for r in table:
        if r[0] and len(out) > 2:
            out.append("")
        out.append(line(r))
    return "\n".join(out)


def markdown_table(table: list[list[str]]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in table]
    return "\n".join(out)


def command_mix(results: Results, scenarios: list[Scenario]) -> list[str]:
    """Redis commands per task in each drain (first repeat), by command."""
    lines = []
    for scenario in scenarios:
        for system in results.systems:
            samples = results.samples.get(scenario.name, {}).get(system, [])
            if samples and "command_mix" in samples[0]:
                mix = ", ".join(f"{cmd} {n:.2f}" for cmd, n in samples[0]["command_mix"].items()
                                if n >= 0.01)
                lines.append(f"{scenario.name} {system}: {mix}")
    return lines


def thread_scaling(results: Results) -> list[str]:
    """Issue 8: more thread workers never slower than fewer (medians of tasks/s). A drop
    whose repeats overlap those of the fewer threads is reported as within the noise:
    on a shared 2-core machine repeats of one setting spread by 10-25 %."""
    lines = []
    for system in results.systems:
        rates = [(w, results.values(f"drain-thread-{w}", system, "rate", 1.0)) for w in (1, 4, 8)]
        rates = [(w, r) for w, r in rates if r]
        if len(rates) < 2:
            continue
        shown = ", ".join(f"w{w} {statistics.median(r):.0f}/s" for w, r in rates)
        drops = []
        for (wa, a), (wb, b) in zip(rates, rates[1:]):
            ma, mb = statistics.median(a), statistics.median(b)
            if mb < ma:
                noise = " (within the spread of the repeats)" if max(b) >= min(a) else ""
                drops.append(f"w{wb} {100 * (1 - mb / ma):.0f}% slower than w{wa}{noise}")
        lines.append(f"{system} thread scaling: {shown}: "
                     + ("; ".join(drops) if drops else "never slower with more threads"))
    return lines


def render(results: Results, scenarios: list[Scenario], header: list[str],
           markdown: bool = False) -> str:
    table = rows(results, scenarios)
    if markdown:
        parts = ["\n".join(f"- {h}" for h in header), "", markdown_table(table)]
    else:
        parts = ["\n".join(header), "", text_table(table)]
    extra = thread_scaling(results)
    mix = command_mix(results, scenarios)
    bullet = "- " if markdown else "  "
    if extra:
        parts += ["", *[bullet + e for e in extra]]
    if mix:
        parts += ["", "Redis commands per task (first repeat):", *[bullet + m for m in mix]]
    if results.problems:
        parts += ["", "CORRECTNESS PROBLEMS:", *[bullet + p for p in results.problems]]
    if results.errors:
        parts += ["", "ERRORS:", *[bullet + e for e in results.errors]]
    return "\n".join(parts) + "\n"
