"""The library entry points of `clusterops validate`: configs in, one `Report` out.

    report = validate_consul(["servers/s1", "servers/s2/config.hcl"], facts=load_facts("facts.yaml"))
    report = validate_vault(["vault-1.hcl", "vault-2.hcl"], live=live_host())

Facts for a node are looked up by its name (Consul node_name / Vault raft node_id), then by the config
file's stem or directory name, then the facts file's `default`. `live` applies to every node. Without
facts, the checks that need them are skipped and reported as INFO (VC015 / VV021), never guessed.
Unreadable or malformed files raise `ConfigError` (file and line); everything else is a finding.
"""

from __future__ import annotations

from collections.abc import Sequence

from clusterops.errors import UsageError
from clusterops.findings import Finding, Report, Severity
from clusterops.validate.catalog import CLUSTER_RULES, CONSUL_RULES, VAULT_RULES
from clusterops.validate.cluster_rules import check_cluster
from clusterops.validate.consul_releases import NEWEST, Version, parse_version
from clusterops.validate.consul_rules import ConsulView, check_node
from clusterops.validate.facts import Facts, HostFacts
from clusterops.validate.load import load_consul, load_vault, source_stem
from clusterops.validate.vault_rules import Target, VaultView, check_vault_cluster, check_vault_node, is_ha


def _check_facts_match(facts: Facts | None, names: Sequence[tuple[str, str]]) -> None:
    """Facts that name no validated node (and no default) would turn every host check into INFO: refuse."""
    if facts is None or facts.default is not None or not facts.nodes:
        return
    known = {n for pair in names for n in pair}
    if not any(name in known for name in facts.nodes):
        raise UsageError(
            f"{facts.source or 'facts'}: no node of the facts ({', '.join(sorted(facts.nodes))}) matches a validated "
            f"node ({', '.join(sorted({n for n, _ in names}))}); name facts after node_name / raft node_id or the "
            "config file's stem, or add a 'default' host"
        )


def _host(name: str, source: str, facts: Facts | None, live: HostFacts | None) -> HostFacts | None:
    if live is not None:
        return live
    if facts is None:
        return None
    return facts.for_node(name, source_stem(source))


def _summary(kind: str, nodes: int, findings: Sequence[Finding]) -> str:
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    return (
        f"{kind}: {nodes} node(s), {counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), "
        f"{counts[Severity.INFO]} info"
    )


def validate_consul(
    paths: Sequence[str],
    *,
    facts: Facts | None = None,
    live: HostFacts | None = None,
    consul_version: str | None = None,
    unknown_keys: str = "error",
) -> Report:
    """`consul_version` (default: the newest release line we know) picks the key set and start-up checks;
    `unknown_keys` is "error" (Consul refuses them) or "warn"."""
    try:
        version = parse_version(consul_version) if consul_version else Version(NEWEST)
    except ValueError as err:
        raise UsageError(f"--consul-version: {err}") from None
    if unknown_keys not in ("error", "warn"):
        raise UsageError(f"--unknown-keys must be 'error' or 'warn', not {unknown_keys!r}")
    release = version.line
    nodes = [load_consul(p, release=release, patch=version.patch, unknown_keys=unknown_keys) for p in paths]
    _check_facts_match(facts, [(n.name, source_stem(n.source)) for n in nodes])
    servers = sum(1 for n in nodes if n.get("server", False))
    findings: list[Finding] = []
    views: list[ConsulView] = []
    for node in nodes:
        found, view = check_node(
            node, _host(node.name, node.source, facts, live), servers_in_set=servers, release=release
        )
        findings += found
        views.append(view)
    findings += check_cluster(views)
    return Report(
        tool="clusterops validate consul",
        findings=tuple(findings),
        rules=CONSUL_RULES + CLUSTER_RULES,
        summary=_summary("consul", len(nodes), findings),
        subjects=tuple(n.name for n in nodes),
    )


def validate_vault(
    paths: Sequence[str],
    *,
    facts: Facts | None = None,
    live: HostFacts | None = None,
    target: str = "vault",
    version: str | None = None,
) -> Report:
    """`target` vault or openbao and its `version` (default: the newest known) choose the product rules."""
    try:
        chosen = Target.parse(target, version)
    except ValueError as err:
        raise UsageError(str(err)) from None
    findings: list[Finding] = []
    views: list[VaultView] = []
    names: list[str] = []
    loaded = []
    for path in paths:
        node = load_vault(path)
        host = _host(node.name, node.source, facts, live)
        if host is not None and host.env:
            node = load_vault(
                path, env=host.env, env_source=(host.path, host.env_lines) if host.path is not None else None
            )
        loaded.append((node, host))
    _check_facts_match(facts, [(node.name, source_stem(node.source)) for node, _ in loaded])
    ha_nodes = sum(1 for node, _ in loaded if is_ha(node))
    for node, host in loaded:
        found, view = check_vault_node(node, host, nodes_in_set=ha_nodes, target=chosen)
        findings += found
        views.append(view)
        names.append(node.name)
    findings += check_vault_cluster(views)
    return Report(
        tool="clusterops validate vault",
        findings=tuple(findings),
        rules=VAULT_RULES,
        summary=_summary("vault", len(paths), findings),
        subjects=tuple(names),
    )
