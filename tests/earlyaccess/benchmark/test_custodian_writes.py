"""Custodian writes through the API and the pages: import and retire packs; propose, consult, activate.

Each action is tried by the role allowed to take it and by roles that are not; no response or page
carries the threshold numbers or the sealed consultation comment.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.benchmark import world
from tests.web.test_pages import hidden, sign_in

from forewarn.accounts.schemas import OrgKind, Principal, Role
from forewarn.core.jobs import Runtime


def _clean(response: httpx.Response) -> httpx.Response:
    for canary in world.CANARIES:
        assert canary.encode() not in response.content, f"canary {canary!r} in {response.request.url}"
    return response


def _policy_body(pack_id: str, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "pack_id": pack_id,
        "p0": world.CANARY_P0,
        "delta": world.CANARY_DELTA,
        "alpha": 0.05,
        "beta": 0.05,
        "max_calls": 60,
        "family_limit": 2,
        "period_days": 30,
    }
    return body | over


async def test_custodian_writes_through_the_api(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: Callable[..., Awaitable[uuid.UUID]],
    make_person: Callable[..., Awaitable[Principal]],
    make_token: Callable[[Principal], Awaitable[str]],
    tmp_path: Path,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    lab = await make_org(kind=OrgKind.LAB)
    lead = await make_person(lab, [Role.SAFETY_LEAD])
    blob = world.sealed_pack(world.write_canary_pack(tmp_path / "p", items=60), key)

    async def auth(p: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {await make_token(p)}"}

    nsa, oncd, cisa, lab_h = [await auth(p) for p in (who.nsa, who.oncd, who.cisa, lead)]
    upload = {"file": ("pack.fwpack", blob, "application/octet-stream")}
    api = "/api/v1/benchmark"

    # Packs: custodians import; a lab cannot; a second import of the same pack conflicts.
    assert (await client.post(f"{api}/packs", files=upload, headers=lab_h)).status_code == 403
    assert (await client.post(f"{api}/packs", files=upload)).status_code == 401
    imported = _clean(await client.post(f"{api}/packs", files=upload, headers=oncd))
    assert imported.status_code == 201, imported.text
    pack = imported.json()
    assert pack["name"] == "canary-pack" and pack["status"] == "active"
    again = _clean(await client.post(f"{api}/packs", files=upload, headers=nsa))
    assert again.status_code == 409
    tampered = {"file": ("x", blob[:-40] + b"\x00" * 40, "application/octet-stream")}
    assert _clean(await client.post(f"{api}/packs", files=tampered, headers=nsa)).status_code >= 400
    assert (await client.post(f"{api}/packs", headers=nsa)).status_code == 422  # no file

    # Propose: NSA only; the numbers never come back, errors name the field.
    body = _policy_body(pack["id"])
    for refused in (oncd, cisa, lab_h):
        assert _clean(await client.post(f"{api}/policies", json=body, headers=refused)).status_code == 403
    too_many = _clean(await client.post(f"{api}/policies", json=body | {"max_calls": 500}, headers=nsa))
    assert too_many.status_code == 422 and "max_calls" in too_many.text
    bad = _clean(await client.post(f"{api}/policies", json=body | {"family_limit": 0}, headers=nsa))
    assert bad.status_code == 422 and "family_limit" in bad.text
    proposed = _clean(await client.post(f"{api}/policies", json=body, headers=nsa))
    assert proposed.status_code == 201, proposed.text
    policy = proposed.json()
    assert policy["status"] == "proposed" and "p0" not in policy
    pid = policy["id"]

    # Consult: ONCD and CISA, once each; NSA and labs cannot. Activate: NSA, after both.
    consultation = {"concur": True, "comment": f"{world.CANARY_COMMENT} fine"}
    for refused in (nsa, lab_h):
        response = await client.post(
            f"{api}/policies/{pid}/consultations", json=consultation, headers=refused
        )
        assert _clean(response).status_code == 403
    early = _clean(await client.post(f"{api}/policies/{pid}/activate", headers=nsa))
    assert early.status_code == 409 and "ONCD" in early.text
    for consultee in (oncd, cisa):
        response = await client.post(
            f"{api}/policies/{pid}/consultations", json=consultation, headers=consultee
        )
        assert _clean(response).status_code == 201, response.text
    twice = await client.post(f"{api}/policies/{pid}/consultations", json=consultation, headers=oncd)
    assert _clean(twice).status_code == 409
    for refused in (oncd, cisa, lab_h):
        assert (await client.post(f"{api}/policies/{pid}/activate", headers=refused)).status_code == 403
    activated = _clean(await client.post(f"{api}/policies/{pid}/activate", headers=nsa))
    assert activated.status_code == 200 and activated.json()["status"] == "active"
    assert {c["agency"] for c in activated.json()["consultations"]} == {"ONCD", "CISA"}

    # Retire: custodians only; the active policy on the pack is superseded.
    assert (await client.post(f"{api}/packs/{pack['id']}/retire", headers=lab_h)).status_code == 403
    retired = _clean(await client.post(f"{api}/packs/{pack['id']}/retire", headers=cisa))
    assert retired.status_code == 200 and retired.json()["status"] == "retired"
    listed = _clean(await client.get(f"{api}/policies", headers=nsa)).json()
    assert next(p for p in listed if p["id"] == pid)["status"] == "superseded"
    gone = _clean(await client.post(f"{api}/policies", json=body, headers=nsa))
    assert gone.status_code == 409
    missing = await client.post(f"{api}/packs/{uuid.uuid4()}/retire", headers=nsa)
    assert missing.status_code == 404


async def test_custodian_writes_through_the_pages(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_org: Callable[..., Awaitable[uuid.UUID]],
    make_person: Callable[..., Awaitable[Principal]],
    tmp_path: Path,
) -> None:
    key = runtime.keys.data
    who = await world.agencies(session)
    nsa = await make_person(who.nsa.organisation_id, [Role.BENCHMARK_CUSTODIAN])
    oncd = await make_person(who.oncd.organisation_id, [Role.BENCHMARK_CUSTODIAN])
    cisa = await make_person(who.cisa.organisation_id, [Role.BENCHMARK_CUSTODIAN])
    lead = await make_person(await make_org(kind=OrgKind.LAB), [Role.SAFETY_LEAD])
    blob = world.sealed_pack(world.write_canary_pack(tmp_path / "p", items=60), key)

    async def as_(person: Principal) -> str:
        client.cookies.clear()
        await sign_in(client, person.email)
        page = _clean(await client.get("/benchmark"))
        assert page.status_code == 200
        return hidden(page.text, "csrf_token")

    # A lab is refused every custodian form.
    client.cookies.clear()
    await sign_in(client, lead.email)
    lab_csrf = hidden((await client.get("/determinations")).text, "csrf_token")
    upload = {"file": ("pack.fwpack", blob, "application/octet-stream")}
    assert (
        await client.post("/benchmark/packs", data={"csrf_token": lab_csrf}, files=upload)
    ).status_code == 403
    assert (await client.post("/benchmark/policies", data={"csrf_token": lab_csrf})).status_code == 403

    # NSA imports the pack (CSRF required) and proposes; a bad field is named, and nothing echoed.
    csrf = await as_(nsa)
    assert (await client.post("/benchmark/packs", files=upload)).status_code == 403
    empty = {"file": ("empty", b"", "application/octet-stream")}
    blank = _clean(await client.post("/benchmark/packs", data={"csrf_token": csrf}, files=empty))
    assert blank.status_code == 422 and "file:" in blank.text
    imported = await client.post("/benchmark/packs", data={"csrf_token": csrf}, files=upload)
    assert imported.status_code == 303
    page = _clean(await client.get(imported.headers["location"]))
    assert "canary-pack" in page.text and "The pack is imported." in page.text
    again = _clean(await client.post("/benchmark/packs", data={"csrf_token": csrf}, files=upload))
    assert again.status_code == 409 and "already imported" in again.text and "canary-pack" in again.text
    match = page.text.split('<select name="pack_id"><option value="')[1].split('"')[0]
    form = {k: str(v) for k, v in _policy_body(match).items()} | {"csrf_token": csrf}
    bad = _clean(await client.post("/benchmark/policies", data=form | {"delta": "lots"}))
    assert bad.status_code == 422 and "delta" in bad.text
    missing = _clean(await client.post("/benchmark/policies", data=form | {"alpha": ""}))
    assert missing.status_code == 422 and "alpha: required" in missing.text
    too_many = _clean(await client.post("/benchmark/policies", data=form | {"max_calls": "500"}))
    assert too_many.status_code == 422 and "max_calls" in too_many.text
    proposed = await client.post("/benchmark/policies", data=form)
    assert proposed.status_code == 303
    page = _clean(await client.get("/benchmark"))
    assert "proposed" in page.text and "Activate" in page.text and 'data-testid="consult"' not in page.text
    policy_id = page.text.split('action="/benchmark/policies/')[1].split("/")[0]
    early = _clean(await client.post(f"/benchmark/policies/{policy_id}/activate", data={"csrf_token": csrf}))
    assert early.status_code == 409 and "consultation" in early.text
    not_nsa_job = {"csrf_token": csrf, "concur": "yes", "comment": "x"}
    assert (
        await client.post(f"/benchmark/policies/{policy_id}/consult", data=not_nsa_job)
    ).status_code == 403

    # ONCD and CISA consult from the page; neither proposes nor activates.
    comment = f"{world.CANARY_COMMENT} agreed"
    for person in (oncd, cisa):
        csrf = await as_(person)
        page = await client.get("/benchmark")
        assert 'data-testid="consult"' in page.text and 'data-testid="propose-policy"' not in page.text
        url = f"/benchmark/policies/{policy_id}/consult"
        unset = _clean(
            await client.post(url, data={"csrf_token": csrf, "concur": "maybe", "comment": comment})
        )
        assert unset.status_code == 422 and "concur" in unset.text
        blank = _clean(await client.post(url, data={"csrf_token": csrf, "concur": "yes", "comment": "  "}))
        assert blank.status_code == 422 and "comment" in blank.text
        done = await client.post(url, data={"csrf_token": csrf, "concur": "yes", "comment": comment})
        assert done.status_code == 303
        twice = _clean(await client.post(url, data={"csrf_token": csrf, "concur": "no", "comment": comment}))
        assert twice.status_code == 409
        assert (await client.post("/benchmark/policies", data=form | {"csrf_token": csrf})).status_code == 403
        activate = await client.post(f"/benchmark/policies/{policy_id}/activate", data={"csrf_token": csrf})
        assert activate.status_code == 403
    page = _clean(await client.get("/benchmark"))
    assert "ONCD: concurs" in page.text and "CISA: concurs" in page.text

    # NSA activates, then a custodian retires the pack (which supersedes the policy).
    csrf = await as_(nsa)
    activated = await client.post(f"/benchmark/policies/{policy_id}/activate", data={"csrf_token": csrf})
    assert activated.status_code == 303
    assert "The policy is active." in _clean(await client.get(activated.headers["location"])).text
    csrf = await as_(cisa)
    retired = await client.post(f"/benchmark/packs/{match}/retire", data={"csrf_token": csrf})
    assert retired.status_code == 303
    page = _clean(await client.get("/benchmark"))
    assert "retired" in page.text and "superseded" in page.text
    nowhere = _clean(await client.post(f"/benchmark/packs/{uuid.uuid4()}/retire", data={"csrf_token": csrf}))
    assert nowhere.status_code == 404 and "pack: no such pack" in nowhere.text


async def test_a_policy_on_a_graded_pack_names_its_grader_from_the_page(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_person: Callable[..., Awaitable[Principal]],
    tmp_path: Path,
) -> None:
    from forewarn.earlyaccess.benchmark import service

    key = runtime.keys.data
    who = await world.agencies(session)
    nsa = await make_person(who.nsa.organisation_id, [Role.BENCHMARK_CUSTODIAN])
    blob = world.sealed_pack(world.write_graded_pack(tmp_path / "graded", items=60), key)
    imported = await service.import_pack(session, blob=blob, actor=who.nsa, key=key)
    client.cookies.clear()
    await sign_in(client, nsa.email)
    page = _clean(await client.get("/benchmark"))
    assert 'name="grader_base_url"' in page.text
    form = {k: str(v) for k, v in _policy_body(str(imported.id)).items()}
    form |= {"csrf_token": hidden(page.text, "csrf_token")}
    without = _clean(await client.post("/benchmark/policies", data=form))
    assert without.status_code == 422 and "model-graded items" in without.text and "grader" in without.text
    secret = "grader-credential-Zq81"
    bad_url = form | {
        "grader_base_url": "ftp://grader.example",
        "grader_model": "g",
        "grader_credential": secret,
    }
    refused = _clean(await client.post("/benchmark/policies", data=bad_url))
    assert refused.status_code == 422 and "grader.base_url" in refused.text and secret not in refused.text
    grader = {
        "grader_base_url": "https://grader.example/v1",
        "grader_model": "judge-1",
        "grader_credential": secret,
    }
    proposed = await client.post("/benchmark/policies", data=form | grader)
    assert proposed.status_code == 303
    shown = _clean(await client.get(proposed.headers["location"]))
    assert "The policy is proposed" in shown.text and secret not in shown.text
