"""The assessments API over HTTP (bearer tokens): workstreams, findings, evidence, imports, triage,
forwarding and the report as JSON and PDF; bad input gets problem+json naming the field."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.review.assessments import world

from forewarn.accounts.schemas import Principal
from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review

API = "/api/v1/assessments"


def pdf_pages(blob: bytes) -> int:
    """The page count from the PDF's page tree (``/Type /Pages … /Count N``), uncompressed in fpdf2 output."""
    assert blob.startswith(b"%PDF-") and blob.rstrip().endswith(b"%%EOF")
    counts = [int(m) for m in re.findall(rb"/Type /Pages\b[^>]*?/Count (\d+)", blob)]
    counts += [int(m) for m in re.findall(rb"/Count (\d+)[^>]*?/Type /Pages\b", blob)]
    assert counts, "no page tree"
    pages = len(re.findall(rb"/Type /Page\b(?!s)", blob))
    assert max(counts) == pages
    return pages


async def test_the_assessment_flow_over_the_api(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    a = await world.build(session, runtime.keys.data)

    async def auth(p: Principal) -> dict[str, str]:
        return {"Authorization": f"Bearer {await make_token(p)}"}

    coord, reviewer, second, lead, outsider = (
        await auth(a.coordinator),
        await auth(a.agency_reviewer),
        await auth(a.second_reviewer),
        await auth(a.lead),
        await auth(a.outsider_reviewer),
    )
    win = f"{API}/windows/{a.window.id}"

    listed = await client.get(f"{API}/windows", headers=reviewer)
    assert listed.status_code == 200 and [w["id"] for w in listed.json()] == [str(a.window.id)]
    assert (await client.get(f"{API}/windows", headers=outsider)).json() == []

    ws = await client.post(f"{win}/workstreams", headers=coord, json=world.workstream(a.w.agency))
    assert ws.status_code == 201, ws.text
    bad_ws = await client.post(
        f"{win}/workstreams", headers=coord, json=world.workstream(a.w.agency, area="weather")
    )
    assert bad_ws.status_code == 422 and bad_ws.headers["content-type"].startswith("application/problem+json")
    assert "area" in bad_ws.text
    assert (
        await client.post(f"{win}/workstreams", headers=reviewer, json=world.workstream(a.w.agency))
    ).status_code == 403

    filed = await client.post(
        f"{win}/findings", headers=reviewer, json=world.finding(workstream_id=ws.json()["id"], tlp="AMBER")
    )
    assert filed.status_code == 201, filed.text
    finding_id = filed.json()["id"]
    bad = await client.post(
        f"{win}/findings", headers=reviewer, json=world.finding(severity="huge", tlp="PINK")
    )
    assert bad.status_code == 422 and "severity" in bad.text and "tlp" in bad.text
    assert (await client.post(f"{win}/findings", headers=outsider, json=world.finding())).status_code == 404

    evidence = await client.post(
        f"{API}/findings/{finding_id}/evidence",
        headers=reviewer,
        files={"file": ("log.jsonl", b'{"a": 1}\n', "application/octet-stream")},
    )
    assert evidence.status_code == 201, evidence.text
    evidence_id = evidence.json()["id"]
    got = await client.get(f"{API}/findings/{finding_id}/evidence/{evidence_id}", headers=second)
    assert got.status_code == 200 and got.content == b'{"a": 1}\n'
    assert got.headers["content-disposition"] == 'attachment; filename="log.jsonl"'
    wrong = await client.post(
        f"{API}/findings/{finding_id}/evidence",
        headers=reviewer,
        files={"file": ("x.pdf", b"hello", "application/pdf")},
    )
    assert wrong.status_code == 422 and wrong.json()["problems"][0]["field"] == "file"

    garak = await client.post(
        f"{win}/imports/garak",
        headers=second,
        files={"file": ("garak.r.report.jsonl", world.garak_report())},
        data={"tlp": "RED"},
    )
    assert garak.status_code == 201, garak.text
    assert len(garak.json()["findings"]) == 2 and {f["tlp"] for f in garak.json()["findings"]} == {"RED"}
    broken = await client.post(
        f"{win}/imports/garak", headers=second, files={"file": ("g.jsonl", b'{"entry_type": "init"}\n')}
    )
    assert broken.status_code == 422 and broken.json()["problems"]
    inspect = await client.post(
        f"{win}/imports/inspect",
        headers=reviewer,
        files={"file": ("run.eval", world.inspect_eval_zip())},
        data={"severity": "low", "area": "autonomy"},
    )
    assert inspect.status_code == 201, inspect.text
    assert inspect.json()["findings"][0]["area"] == "autonomy"

    # Triage, merge and forward (coordinators only).
    second_finding = garak.json()["findings"][0]["id"]
    assert (
        await client.post(
            f"{API}/findings/{finding_id}/triage", headers=reviewer, json={"status": "confirmed"}
        )
    ).status_code == 403
    triaged = await client.post(
        f"{API}/findings/{finding_id}/triage", headers=coord, json={"status": "confirmed"}
    )
    assert triaged.status_code == 200 and triaged.json()["status"] == "confirmed"
    merged = await client.post(
        f"{API}/findings/{second_finding}/merge", headers=coord, json={"primary_id": finding_id}
    )
    assert merged.status_code == 200 and len(merged.json()["reporters"]) == 2
    forwarded = await client.post(f"{API}/findings/{finding_id}/critical-infrastructure", headers=coord)
    assert forwarded.status_code == 200 and forwarded.json()["forward_state"] == "forwarded"
    assert (await client.get(f"{API}/findings/to-forward", headers=coord)).json() == []

    # The report: coordinators any time; the lab after close, as JSON and as a PDF.
    interim = await client.get(f"{win}/report", headers=coord)
    assert interim.status_code == 200 and interim.json()["final"] is False
    assert (await client.get(f"{win}/report", headers=lead)).status_code == 409
    await review.close_window(session, window_id=a.window.id, actor=a.coordinator, reason="test")
    issued = await client.post(f"{win}/report", headers=coord)
    assert issued.status_code == 201 and issued.json()["issued_at"]
    report = await client.get(f"{win}/report", headers=lead)
    assert report.status_code == 200 and report.json()["final"] is True
    assert report.json()["withheld"] == {"high": 1}  # the RED garak finding not merged: counted only
    pdf = await client.get(f"{win}/report.pdf", headers=lead)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf_pages(pdf.content) >= 1
    same = await client.get(f"{win}/report?format=pdf", headers=coord)
    assert pdf_pages(same.content) >= 1
    assert (await client.get(f"{win}/report", headers=reviewer)).status_code == 403


async def test_evidence_and_red_text_never_leak_into_other_outputs(
    session: AsyncSession,
    runtime: Runtime,
    client: httpx.AsyncClient,
    make_token: Callable[[Principal], Awaitable[str]],
) -> None:
    """Canaries planted in evidence and in a TLP:RED finding appear only where they may."""
    from sqlalchemy import text

    a = await world.build(session, runtime.keys.data)
    reviewer = {"Authorization": f"Bearer {await make_token(a.agency_reviewer)}"}
    coord = {"Authorization": f"Bearer {await make_token(a.coordinator)}"}
    lead = {"Authorization": f"Bearer {await make_token(a.lead)}"}
    partner = {"Authorization": f"Bearer {await make_token(a.partner_reviewer)}"}
    win = f"{API}/windows/{a.window.id}"
    red_text = "CANARYREDTEXTk4Pz"
    amber = await client.post(f"{win}/findings", headers=reviewer, json=world.finding())
    red = await client.post(
        f"{win}/findings",
        headers=reviewer,
        json=world.finding(tlp="RED", title=f"RED {red_text}", description=red_text),
    )
    assert amber.status_code == red.status_code == 201
    up = await client.post(
        f"{API}/findings/{amber.json()['id']}/evidence",
        headers=reviewer,
        files={"file": ("t.txt", world.CANARY.encode())},
    )
    assert up.status_code == 201 and world.CANARY not in up.text
    await review.close_window(session, window_id=a.window.id, actor=a.coordinator, reason="test")
    outputs = [
        await client.get(f"{win}/findings", headers=partner),
        await client.get(f"{API}/findings/{amber.json()['id']}", headers=partner),
        await client.get(f"{API}/findings/{red.json()['id']}", headers=partner),
        await client.get(f"{win}/report", headers=lead),
        await client.get(f"{win}/report.pdf", headers=lead),
        await client.get(f"{win}/report", headers=coord),
    ]
    assert outputs[2].status_code == 404
    for response in outputs:
        assert world.CANARY.encode() not in response.content
    for response in outputs[:5]:
        assert red_text.encode() not in response.content
    assert red_text in outputs[5].text  # the coordinator reads it
    ledger_rows = (await session.execute(text("SELECT data::text FROM ledger_entries"))).scalars().all()
    assert not any(world.CANARY in row or red_text in row for row in ledger_rows)
