from __future__ import annotations

from clusterops.cli.upgrade_view import LiveView


def test_live_view_follows_each_server_through_the_events() -> None:
    view = LiveView()
    events = [
        {"event": "start", "t": 0.0, "target": "1.14.11", "steps": ["s2", "s3", "s1"], "baseline_ft": 1},
        {"event": "snapshot", "t": 0.1, "index": 11},
        {"event": "stopping", "t": 1.0, "server": "s2"},
        {"event": "gating", "t": 1.2, "server": "s2"},
        {"event": "waiting", "t": 1.3, "what": "s2 back on 1.14.11", "reason": "s2 reports version 1.13.9"},
        {"event": "done-server", "t": 13.0, "server": "s2"},
        {"event": "leader-step", "t": 14.0, "server": "s1", "how": "restart"},
        {"event": "server-failed", "t": 20.0, "server": "s1", "reason": "did not start"},
    ]
    with view:
        for e in events:
            view(e)
    assert view.order == ["s2", "s3", "s1"]
    assert view.rows["s2"] == {"status": "done", "detail": "", "time": "12.0s"}
    assert view.rows["s3"]["status"] == "pending"
    assert view.rows["s1"]["status"] == "FAILED" and view.rows["s1"]["detail"] == "did not start"
    assert "snapshot at index 11" in view.header
