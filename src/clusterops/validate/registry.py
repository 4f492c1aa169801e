"""The node rules of `validate` as data: small pure functions over a resolved view, each registered with its rule.

A node is checked in two steps. A resolve step (`consul_rules.resolve_node`, `vault_rules.resolve_vault_node`)
builds one frozen view of the node: its addresses as the server expands them, with the file and line each comes
from, its ports and role, what its templates expanded to, and the errors met on the way. `run` then walks a
registry, a tuple of `Check`s: the catalog `Rule`s a check reports and a function from the view to `Hit`s. A
registry lists its checks in the order the server meets the problems, so the findings come in that order.
`each` makes one check of several item checks run item by item (listener by listener, retry_join entry by
entry), for the same reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from clusterops.findings import Finding, Rule
from clusterops.validate.catalog import RULES
from clusterops.validate.load import Loc

V = TypeVar("V")
I = TypeVar("I")  # noqa: E741 - an item of a view (a listener, a retry_join entry)


@dataclass(frozen=True)
class Hit:
    """What a check found: the rule, the message in the server's words, and where (None: the node's last file)."""

    rule: str
    message: str
    loc: Loc | None = None


@dataclass(frozen=True)
class Check(Generic[V]):
    """A function from a view to hits, and the rules it may report (one, or a family computed together)."""

    rules: tuple[Rule, ...]
    fn: Callable[[V], Iterable[Hit]]
    items: tuple[ItemCheck[V, Any], ...] = ()  # the item checks `each` runs, for the catalog

    @property
    def name(self) -> str:
        return getattr(self.fn, "__name__", repr(self.fn))


@dataclass(frozen=True)
class ItemCheck(Generic[V, I]):
    """A check of one item of a view (one listener, one retry_join entry)."""

    rules: tuple[Rule, ...]
    fn: Callable[[V, I], Iterable[Hit]]


def rules(*ids: str) -> tuple[Rule, ...]:
    """The catalog rules of these ids (a KeyError for an id the catalog does not have)."""
    return tuple(RULES[i] for i in ids)


def check(fn: Callable[[V], Iterable[Hit]], *ids: str) -> Check[V]:
    return Check(rules(*ids), fn)


def item_check(fn: Callable[[V, I], Iterable[Hit]], *ids: str) -> ItemCheck[V, I]:
    return ItemCheck(rules(*ids), fn)


def each(items: Callable[[V], Iterable[I]], *checks: ItemCheck[V, I]) -> Check[V]:
    """One check that runs `checks` on every item in turn: all of an item's findings before the next item's."""

    def run_items(view: V) -> Iterator[Hit]:
        for item in items(view):
            for c in checks:
                yield from c.fn(view, item)

    run_items.__name__ = "each(" + ", ".join(getattr(c.fn, "__name__", "?") for c in checks) + ")"
    family = tuple(dict.fromkeys(r for c in checks for r in c.rules))
    return Check(family, run_items, checks)


def registered(registry: Sequence[Check[V]]) -> tuple[Rule, ...]:
    """Every rule a registry may report, in registry order."""
    return tuple(dict.fromkeys(r for c in registry for r in c.rules))


def run(registry: Sequence[Check[V]], view: V, subject: str, default: Loc) -> list[Finding]:
    """The findings of every check, in registry order. A hit of a rule its check does not declare is a
    programming error (the catalog test runs every check), not a finding."""
    out: list[Finding] = []
    for c in registry:
        declared = {r.id: r for r in c.rules}
        for hit in c.fn(view):
            rule = declared.get(hit.rule)
            if rule is None:
                raise ValueError(f"check {c.name} reported {hit.rule}, which it does not declare")
            loc = hit.loc or default
            out.append(Finding.of(rule, subject, hit.message, file=loc.file, line=loc.line))
    return out


__all__ = ["Check", "Hit", "ItemCheck", "check", "each", "item_check", "registered", "rules", "run"]
