"""The app's operations surface, on the real app over HTTP."""
from gateway.keys import BILLING


async def test_healthz_readyz_metrics_and_request_id(gateway_client):
    client = await gateway_client()
    resp = await client.get("/healthz")
    assert resp.status == 200 and (await resp.json()) == {"status": "ok"}
    assert len(resp.headers["X-Request-Id"]) == 32 and resp.headers["X-Request-Id"] != (await client.get("/healthz")).headers["X-Request-Id"]
    resp = await client.get("/readyz", headers={"X-Request-Id": "abc-123"})
    assert resp.status == 200
    assert (await resp.json()) == {"status": "ok", "database": "ok", "redis": "disabled"}
    assert resp.headers["X-Request-Id"] == "abc-123"
    metrics = await (await client.get("/metrics")).text()
    assert 'tvtopup_http_requests_total{method="GET",route="/readyz",status="200"} 1.0' in metrics
    assert "tvtopup_outbox_pending" in metrics
    assert client.app[BILLING].db is not None


async def test_unknown_path_is_json_404_with_request_id(gateway_client):
    client = await gateway_client()
    resp = await client.get("/nope")
    assert resp.status == 404
    assert (await resp.json())["error"] == "not_found"
    assert resp.headers["X-Request-Id"]
