"""The page size of Context Services queries comes from `[cs] page_size` / `max_page_size`."""

from __future__ import annotations

from tests.api.conftest import CS_CONFIG, OpenApi

CS = "/genesys/1/cs"
SMALL_PAGES = CS_CONFIG.replace("[cs]", "[cs]\npage_size = 2\nmax_page_size = 3", 1)


async def test_configured_page_size_and_cap(cs_api_factory: OpenApi) -> None:
    async with cs_api_factory(SMALL_PAGES) as api:
        made = []
        for _ in range(4):
            started = await api.client.post(
                f"{CS}/services/start", json={"service_type": "billing", "customer_id": "c"}
            )
            assert started.status_code == 201, started.text
            made.append(started.json()["service_id"])
            await api.advance(1)
        newest_first = made[::-1]
        listed = f"{CS}/customers/c/services"
        page = await api.client.get(listed)  # no limit: page_size
        assert [s["service_id"] for s in page.json()] == newest_first[:2]
        assert page.headers["x-next-offset"] == "2"
        page = await api.client.get(listed, params={"limit": 3})  # the cap itself is fine
        assert [s["service_id"] for s in page.json()] == newest_first[:3]
        refused = await api.client.get(listed, params={"limit": 4})
        assert refused.status_code == 400
        assert "limit may be at most 3" in refused.json()["message"]
        rest = await api.client.get(listed, params={"offset": 2})
        assert [s["service_id"] for s in rest.json()] == newest_first[2:]
        assert "x-next-offset" not in rest.headers
