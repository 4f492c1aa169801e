"""Read both sides of a diff (versions, paths, servers) and hand them to the pure `diff` module."""

from __future__ import annotations

from clusterops.errors import NotFound
from clusterops.kv.client import VaultClient
from clusterops.kv.diff import SecretDiff, TreeDiff, diff_data
from clusterops.kv.model import SecretRef, SecretVersion
from clusterops.kv.ops import get
from clusterops.kv.pool import DEFAULT_WORKERS, run_bounded
from clusterops.kv.redact import Redactor
from clusterops.kv.tree import walk


def _name(client: VaultClient, ref: SecretRef, sv: SecretVersion | None, same_server: bool) -> str:
    where = "" if same_server else f"{client.settings.address} "
    return f"{where}{ref}" + (f"@v{sv.version}" if sv is not None and sv.version else "")


def diff_secrets(
    left: VaultClient,
    lref: SecretRef,
    right: VaultClient,
    rref: SecretRef,
    *,
    from_version: int | None = None,
    to_version: int | None = None,
    redactor: Redactor | None = None,
    one_secret: bool | None = None,
) -> SecretDiff:
    """Same path: --from (default: the version before --to) against --to (default: latest). Two paths or servers:
    the left at --from (default latest) against the right at --to (default latest)."""
    redactor = redactor or Redactor.from_env()
    same_path = (left is right and lref == rref) if one_secret is None else one_secret
    rsv = get(right, rref, version=to_version)
    if same_path and from_version is None:
        from_version = rsv.version - 1
        if from_version < 1:
            raise NotFound(f"{lref} has only version {rsv.version}: give --from and --to")
    lsv = get(left, lref, version=from_version)
    same_server = left is right
    return diff_data(
        lsv.data,
        rsv.data,
        redactor,
        left_name=_name(left, lref, lsv, same_server),
        right_name=_name(right, rref, rsv, same_server),
        left_state=lsv.info.state if lref.kv_version == 2 else "live",
        right_state=rsv.info.state if rref.kv_version == 2 else "live",
    )


def diff_trees(
    left: VaultClient,
    lref: SecretRef,
    right: VaultClient,
    rref: SecretRef,
    *,
    workers: int = DEFAULT_WORKERS,
    redactor: Redactor | None = None,
) -> TreeDiff:
    """Every secret below two roots (e.g. staging and production), latest versions, compared per key."""
    redactor = redactor or Redactor.from_env()
    lpaths, rpaths = set(walk(left, lref, workers=workers)), set(walk(right, rref, workers=workers))
    common = sorted(lpaths & rpaths)
    same_server = left is right

    def one(rel: str) -> SecretDiff:
        a = get(left, lref.child(rel))
        b = get(right, rref.child(rel))
        return diff_data(
            a.data,
            b.data,
            redactor,
            left_name=_name(left, lref.child(rel), a, same_server),
            right_name=_name(right, rref.child(rel), b, same_server),
            left_state=a.info.state if lref.kv_version == 2 else "live",
            right_state=b.info.state if rref.kv_version == 2 else "live",
        )

    outcomes = run_bounded(common, one, workers=workers)
    for o in outcomes:
        if o.error is not None:
            raise o.error
    return TreeDiff(
        _name(left, lref, None, same_server),
        _name(right, rref, None, same_server),
        tuple(sorted(lpaths - rpaths)),
        tuple(sorted(rpaths - lpaths)),
        tuple(o.result for o in outcomes if o.result is not None),
    )
