"""Assessment pages, signed in with cookies, without JavaScript: the coordinator plans a workstream,
a reviewer files a finding with evidence and imports a garak report, the coordinator triages and
marks it for the clearinghouse, and the lab reads the final report (page, JSON, PDF)."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from tests.earlyaccess.review.assessments import world
from tests.earlyaccess.review.assessments.test_api import pdf_pages
from tests.web.test_pages import hidden, sign_in

from forewarn.core.jobs import Runtime
from forewarn.earlyaccess.review import service as review


async def test_the_pages_of_coordinator_reviewer_and_lab(
    session: AsyncSession, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    a = await world.build(session, runtime.keys.data)
    page_url = f"/assessments/windows/{a.window.id}"

    # The coordinator plans a workstream.
    await sign_in(client, a.coordinator.email)
    home = await client.get("/assessments")
    assert home.status_code == 200 and page_url in home.text
    page = await client.get(page_url)
    assert (
        page.status_code == 200 and 'id="workstream-form"' in page.text and 'id="finding-form"' in page.text
    )
    csrf = hidden(page.text, "csrf_token")
    form = world.workstream(a.w.agency) | {"csrf_token": csrf, "member_organisation_ids": [str(a.w.partner)]}
    planned = await client.post(f"{page_url}/workstreams", data=form)
    assert planned.status_code == 303, planned.text
    page = await client.get(planned.headers["location"])
    assert "The workstream is planned." in page.text and "Cyber offence uplift" in page.text
    bad = await client.post(f"{page_url}/workstreams", data=form | {"due_date": "soon"})
    assert bad.status_code == 422 and "due_date" in bad.text
    client.cookies.clear()

    # A reviewer files a finding with evidence, and imports a garak report.
    await sign_in(client, a.agency_reviewer.email)
    page = await client.get(page_url)
    assert 'id="finding-form"' in page.text and 'id="workstream-form"' not in page.text
    csrf = hidden(page.text, "csrf_token")
    missing = await client.post(f"{page_url}/findings", data={"csrf_token": csrf, "title": "x"})
    assert missing.status_code == 422 and "severity" in missing.text and "description" in missing.text
    filed = await client.post(
        f"{page_url}/findings",
        data=world.finding(tlp="AMBER") | {"csrf_token": csrf},
        files={"evidence": ("notes.txt", b"what we saw", "text/plain")},
    )
    assert filed.status_code == 303, filed.text
    finding_url = filed.headers["location"].split("?")[0]
    detail = await client.get(filed.headers["location"])
    assert "The finding is filed." in detail.text and "notes.txt" in detail.text
    assert 'data-testid="finding-tlp">TLP:AMBER' in detail.text
    no_csrf = await client.post(f"{page_url}/findings", data=world.finding())
    assert no_csrf.status_code == 403
    imported = await client.post(
        f"{page_url}/imports/garak",
        data={"csrf_token": csrf, "tlp": "AMBER"},
        files={"file": ("garak.report.jsonl", world.garak_report())},
    )
    assert imported.status_code == 303
    page = await client.get(page_url)
    assert "garak dan.Dan_11_0" in page.text and "garak malwaregen.Evasion" in page.text
    refused = await client.post(
        f"{page_url}/imports/inspect", data={"csrf_token": csrf}, files={"file": ("x.json", b"{}")}
    )
    assert refused.status_code == 422 and "eval" in refused.text
    client.cookies.clear()

    # The coordinator triages and marks it as affecting critical infrastructure.
    await sign_in(client, a.coordinator.email)
    detail = await client.get(finding_url)
    csrf = hidden(detail.text, "csrf_token")
    assert 'id="triage-form"' in detail.text and 'id="merge-form"' in detail.text
    triaged = await client.post(f"{finding_url}/triage", data={"csrf_token": csrf, "status": "confirmed"})
    assert triaged.status_code == 303
    marked = await client.post(f"{finding_url}/critical-infrastructure", data={"csrf_token": csrf})
    assert marked.status_code == 303
    detail = await client.get(marked.headers["location"])
    assert "forwarded to the clearinghouse" in detail.text and "confirmed" in detail.text
    report = await client.get(f"{page_url}/report")
    assert report.status_code == 200 and "Interim assessment report" in report.text
    client.cookies.clear()

    # The lab reads the final report once the window closed: page, JSON and PDF.
    await review.close_window(session, window_id=a.window.id, actor=a.coordinator, reason="test")
    await sign_in(client, a.lead.email)
    page = await client.get(page_url)
    assert page.status_code == 200 and 'id="finding-form"' not in page.text and "Final report" in page.text
    report = await client.get(f"{page_url}/report")
    assert report.status_code == 200 and "Final assessment report" in report.text
    assert "Cyber offence uplift" in report.text
    as_json = await client.get(f"{page_url}/report.json")
    assert as_json.status_code == 200 and as_json.json()["final"] is True
    as_pdf = await client.get(f"{page_url}/report.pdf")
    assert as_pdf.status_code == 200 and pdf_pages(as_pdf.content) >= 1
    assert (await client.get(finding_url)).status_code == 200  # AMBER: the lab takes part
    client.cookies.clear()

    await sign_in(client, a.outsider_reviewer.email)
    assert (await client.get(page_url)).status_code == 404
    assert (await client.get(finding_url)).status_code == 404
