"""The PrometheusRule of deploy/k8s/monitoring, made from the alerts table of docs/operations.md so
the two cannot drift (one place for each alert: the table people read).

`python -m cli.alerts_doc` (or `make docs`) rewrites the rule file; the test suite fails when the
committed file differs from what the table says.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "operations.md"
RULES = ROOT / "deploy" / "k8s" / "monitoring" / "prometheus-rule.yaml"
_ROW = re.compile(
    r"^\| (?P<name>[^|`]+?) \| `(?P<expr>(?:[^`])+)`(?: for (?P<for>\d+[smh]))? \| (?P<means>.+) \|$"
)


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_: str
    means: str

    @property
    def rule_name(self) -> str:
        return "Reelmill" + "".join(w[:1].upper() + w[1:] for w in re.split(r"[^A-Za-z0-9]+", self.name) if w)


def alerts(doc: str) -> list[Alert]:
    section = doc.split("### Alerts", 1)[1].split("\n## ", 1)[0]
    out = []
    for line in section.splitlines():
        m = _ROW.match(line.strip())
        if m:
            expr = m["expr"].replace("\\|", "|")
            out.append(Alert(m["name"].strip(), expr, m["for"] or "", m["means"].strip()))
    return out


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(found: list[Alert]) -> str:
    lines = [
        "# Generated from the alerts table of docs/operations.md by `make docs` (cli/alerts_doc.py): edit",
        "# the table, not this file.",
        "apiVersion: monitoring.coreos.com/v1",
        "kind: PrometheusRule",
        "metadata:",
        "  name: reelmill",
        "spec:",
        "  groups:",
        "    - name: reelmill",
        "      rules:",
    ]
    for a in found:
        lines += [f"        - alert: {a.rule_name}", f"          expr: {_quoted(a.expr)}"]
        if a.for_:
            lines.append(f"          for: {a.for_}")
        lines += [
            "          labels:",
            "            severity: warning",
            "          annotations:",
            f"            summary: {_quoted(a.name)}",
            f"            description: {_quoted(a.means)}",
        ]
    return "\n".join(lines) + "\n"


def main() -> int:
    RULES.write_text(render(alerts(DOC.read_text(encoding="utf-8"))), encoding="utf-8")
    print(f"wrote {RULES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
