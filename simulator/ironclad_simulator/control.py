"""Async client for the simulator's control API (`/_sim/...`), for tests and dev tooling."""

from __future__ import annotations

from typing import Any

import aiohttp


class SimulatorControlError(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"simulator control call failed with {status}: {body}")
        self.status = status
        self.body = body


def _drop_none(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if v is not None}


class SimulatorControl:
    """Wraps every `/_sim/` endpoint. `base_url` is the simulator origin, e.g. `http://127.0.0.1:9000`."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = session

    async def _call(
        self, method: str, path: str, json: Any = None, params: dict[str, str] | None = None
    ) -> Any:
        async with self.session.request(method, f"{self.base_url}{path}", json=json, params=params) as resp:
            body = await resp.json(content_type=None)
            if resp.status >= 400:
                raise SimulatorControlError(resp.status, body)
            return body

    # -- global ------------------------------------------------------------------------------------
    async def reset(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/_sim/reset")
        return result

    async def get_config(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/_sim/config")
        return result

    async def set_config(
        self,
        *,
        latency_ms: float | None = None,
        latency_jitter_ms: float | None = None,
        rate_limits_enabled: bool | None = None,
        rate_limits: dict[str, int] | None = None,
        retry_after_header: bool | None = None,
        token_ttl_seconds: int | None = None,
        webhook_retry_base_seconds: float | None = None,
        webhook_max_retries: int | None = None,
        webhook_timeout_seconds: float | None = None,
        allow_http_targets: bool | None = None,
    ) -> dict[str, Any]:
        body = _drop_none(
            {
                "latency_ms": latency_ms,
                "latency_jitter_ms": latency_jitter_ms,
                "rate_limits_enabled": rate_limits_enabled,
                "rate_limits": rate_limits,
                "retry_after_header": retry_after_header,
                "token_ttl_seconds": token_ttl_seconds,
                "webhook_retry_base_seconds": webhook_retry_base_seconds,
                "webhook_max_retries": webhook_max_retries,
                "webhook_timeout_seconds": webhook_timeout_seconds,
                "allow_http_targets": allow_http_targets,
            }
        )
        result: dict[str, Any] = await self._call("PUT", "/_sim/config", json=body)
        return result

    # -- companies, users, apps --------------------------------------------------------------------
    async def create_company(
        self,
        company_id: str | None = None,
        users: list[str] | None = None,
        apps: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Returns `{company_id, users:[{id,email}], apps:[{client_id, client_secret, scopes, ...}]}`."""
        body = _drop_none({"company_id": company_id, "users": users, "apps": apps})
        result: dict[str, Any] = await self._call("POST", "/_sim/companies", json=body)
        return result

    async def list_companies(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", "/_sim/companies"))["companies"]
        return result

    async def get_company(self, company_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/_sim/companies/{company_id}")
        return result

    async def add_app(
        self,
        company_id: str,
        *,
        client_id: str | None = None,
        client_secret: str | None = None,
        scopes: list[str] | None = None,
        grant_types: list[str] | None = None,
    ) -> dict[str, Any]:
        body = _drop_none(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "scopes": scopes,
                "grant_types": grant_types,
            }
        )
        result: dict[str, Any] = await self._call("POST", f"/_sim/companies/{company_id}/apps", json=body)
        return result

    async def update_app(
        self,
        client_id: str,
        *,
        scopes: list[str] | None = None,
        client_secret: str | None = None,
        grant_types: list[str] | None = None,
    ) -> dict[str, Any]:
        body = _drop_none({"scopes": scopes, "client_secret": client_secret, "grant_types": grant_types})
        result: dict[str, Any] = await self._call("PATCH", f"/_sim/apps/{client_id}", json=body)
        return result

    async def revoke_app(self, client_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/_sim/apps/{client_id}/revoke")
        return result

    async def expire_tokens(self, client_id: str) -> int:
        result: int = (await self._call("POST", f"/_sim/apps/{client_id}/expire-tokens"))["expired"]
        return result

    async def add_user(self, company_id: str, email: str, user_id: str | None = None) -> dict[str, Any]:
        body = _drop_none({"email": email, "id": user_id})
        result: dict[str, Any] = await self._call("POST", f"/_sim/companies/{company_id}/users", json=body)
        return result

    # -- records -----------------------------------------------------------------------------------
    async def seed(
        self,
        company_id: str,
        count: int,
        *,
        seed: int | None = None,
        document_ratio: float | None = None,
        min_document_bytes: int | None = None,
        max_document_bytes: int | None = None,
        amendment_ratio: float | None = None,
        age_seconds: float | None = None,
    ) -> int:
        body = _drop_none(
            {
                "age_seconds": age_seconds,
                "count": count,
                "seed": seed,
                "document_ratio": document_ratio,
                "min_document_bytes": min_document_bytes,
                "max_document_bytes": max_document_bytes,
                "amendment_ratio": amendment_ratio,
            }
        )
        result: int = (await self._call("POST", f"/_sim/companies/{company_id}/seed", json=body))["created"]
        return result

    async def list_records(self, company_id: str) -> list[dict[str, Any]]:
        """All records of a company, oldest `lastUpdated` first (addresses as objects)."""
        result: list[dict[str, Any]] = (await self._call("GET", f"/_sim/companies/{company_id}/records"))[
            "list"
        ]
        return result

    async def edit_record(
        self,
        company_id: str,
        record_id: str,
        *,
        name: str | None = None,
        set_properties: dict[str, Any] | None = None,
        remove_properties: list[str] | None = None,
    ) -> dict[str, Any]:
        body = _drop_none(
            {"name": name, "set_properties": set_properties, "remove_properties": remove_properties}
        )
        result: dict[str, Any] = await self._call(
            "PATCH", f"/_sim/companies/{company_id}/records/{record_id}", json=body
        )
        return result

    async def set_churn(
        self,
        company_id: str,
        *,
        edits: int = 0,
        deletes: int = 0,
        creates: int = 0,
        seed: int = 0,
        max_requests: int = 0,
    ) -> dict[str, Any]:
        """Edit, delete and create records before every `GET /records` of the company (churn.py)."""
        body = {
            "edits": edits,
            "deletes": deletes,
            "creates": creates,
            "seed": seed,
            "max_requests": max_requests,
        }
        result: dict[str, Any] = await self._call("PUT", f"/_sim/companies/{company_id}/churn", json=body)
        return result

    async def stop_churn(self, company_id: str) -> dict[str, Any] | None:
        """Stop the churn; returns what it did (`edited`, `deleted`, `created` record ids)."""
        result: dict[str, Any] | None = await self._call("DELETE", f"/_sim/companies/{company_id}/churn")
        return result

    async def delete_record(self, company_id: str, record_id: str) -> None:
        await self._call("DELETE", f"/_sim/companies/{company_id}/records/{record_id}")

    async def set_record_status(self, company_id: str, record_id: str, status: str) -> dict[str, Any]:
        """Returns `{record, event_ids}`; fires `record_contract_status_changed`."""
        result: dict[str, Any] = await self._call(
            "POST", f"/_sim/companies/{company_id}/records/{record_id}/status", json={"status": status}
        )
        return result

    # -- workflows and events ----------------------------------------------------------------------
    async def complete_workflow(
        self,
        company_id: str,
        *,
        records: int = 1,
        template_id: str | None = None,
        title: str | None = None,
        fire_launched: bool = False,
    ) -> dict[str, Any]:
        """Returns `{workflow_id, template_id, record_ids, event_ids, workflow}`."""
        body = _drop_none(
            {"records": records, "template_id": template_id, "title": title, "fire_launched": fire_launched}
        )
        result: dict[str, Any] = await self._call(
            "POST", f"/_sim/companies/{company_id}/workflows", json=body
        )
        return result

    async def fire_event(
        self, company_id: str, event: str, payload: dict[str, Any] | None = None
    ) -> list[str]:
        body = {"event": event, "payload": payload or {}}
        result: list[str] = (await self._call("POST", f"/_sim/companies/{company_id}/events", json=body))[
            "event_ids"
        ]
        return result

    # -- webhooks ----------------------------------------------------------------------------------
    async def rotate_verification_key(self, company_id: str) -> str:
        result: str = (await self._call("POST", f"/_sim/companies/{company_id}/verification-key/rotate"))[
            "public_key"
        ]
        return result

    async def deliveries(self, company_id: str, webhook_id: str | None = None) -> list[dict[str, Any]]:
        params = {"webhook_id": webhook_id} if webhook_id else None
        result: list[dict[str, Any]] = (
            await self._call("GET", f"/_sim/companies/{company_id}/deliveries", params=params)
        )["deliveries"]
        return result

    async def wait_deliveries(self, timeout: float = 10.0) -> int:
        """Wait until no delivery (including retries) is pending; returns how many are still pending."""
        result: int = (await self._call("POST", "/_sim/deliveries/wait", json={"timeout": timeout}))[
            "pending"
        ]
        return result

    async def disable_webhook_by_system(self, webhook_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", f"/_sim/webhooks/{webhook_id}/disable-by-system")
        return result

    # -- faults ------------------------------------------------------------------------------------
    async def add_fault(
        self,
        path_regex: str,
        status: int | None = None,
        *,
        method: str | None = None,
        query: dict[str, str] | None = None,
        body: Any = None,
        times: int = 1,
        delay_ms: float | None = None,
        company_id: str | None = None,
    ) -> str:
        payload = _drop_none(
            {
                "path_regex": path_regex,
                "status": status,
                "method": method,
                "query": query,
                "body": body,
                "times": times,
                "delay_ms": delay_ms,
                "company_id": company_id,
            }
        )
        result: str = (await self._call("POST", "/_sim/faults", json=payload))["fault_id"]
        return result

    async def list_faults(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = (await self._call("GET", "/_sim/faults"))["faults"]
        return result

    async def clear_faults(self) -> int:
        result: int = (await self._call("DELETE", "/_sim/faults"))["cleared"]
        return result

    async def delete_fault(self, fault_id: str) -> None:
        await self._call("DELETE", f"/_sim/faults/{fault_id}")

    # -- stats and clock ---------------------------------------------------------------------------
    async def stats(self) -> dict[str, Any]:
        """`{token_requests: {client_id: n}, companies: {id: {requests, pages_requested, rate_limited}}}`."""
        result: dict[str, Any] = await self._call("GET", "/_sim/stats")
        return result

    async def company_stats(self, company_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/_sim/companies/{company_id}/stats")
        return result

    async def reset_stats(self) -> None:
        await self._call("POST", "/_sim/stats/reset")

    async def clock(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/_sim/clock")
        return result

    async def advance_clock(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/_sim/clock", json={"advance_seconds": seconds})
        return result

    async def freeze_clock(self, frozen: bool = True) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/_sim/clock", json={"freeze": frozen})
        return result

    async def reset_clock(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("POST", "/_sim/clock", json={"reset": True})
        return result
