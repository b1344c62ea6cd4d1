"""What a scenario measured: one record, the last verdict and its evidence.

The session writes it as its probes return (a fresh one per scenario); the steps read it
for their verdicts, and the failure report is built from it alone (nslab.report.failure).

>>> r = Record()
>>> r.verdict is None and r.deciding_places() == []
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nslab.commands import Result
from nslab.probe.checks import Lookup, Ping
from nslab.probe.ports import Connection


@dataclass
class Record:
    ping: Ping | None = None  # the last ping
    connection: Connection | None = None  # the last connection probe (or spoofed probe)
    lookup: Lookup | None = None  # the last name look-up
    result: Result | None = None  # the last command typed, or the raw run of a probe that failed
    # the latest ping or connection probe, whichever ran last: "which rule decided" steps
    verdict: Ping | Connection | None = None
    # the flow the last probe tried (source, destination): the report marks its ends
    flow: tuple[str, str] | None = None
    # where a step compared expectations, its rows (from, to, service, expected, got, why)
    expected_got: list[list[str]] = field(default_factory=list)

    def pinged(self, ping: Ping) -> Ping:
        self.ping = self.verdict = ping
        return ping

    def connected(self, conn: Connection) -> Connection:
        self.connection = self.verdict = conn
        return conn

    def deciding_places(self) -> list[str]:
        """The places whose rules decided the last probe (the report's diagnostics order)."""
        if self.verdict is None:
            return []
        evidence, lost = self.verdict.evidence, self.verdict.lost
        return list(dict.fromkeys(d.where for d in evidence.deciding(lost=lost) or evidence.decisions))

    def sections(self) -> dict[str, str]:
        """The record as the diagnostics bundle shows it: title -> text."""
        out = {}
        if self.ping is not None:
            p = self.ping
            out["last ping"] = f"$ {p.raw.command}\n{p.raw.output}\nwhy: {p.why()}"
        if self.connection is not None:
            c = self.connection
            out["last connection"] = f"{c.describe()}\nwhy: {c.why()}"
        if self.result is not None:
            out["last command"] = f"$ {self.result.command}\n{self.result.output}"
        return out
