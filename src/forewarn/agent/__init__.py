"""``forewarn agent``: the small client an operator runs next to its systems (DESIGN §4, issue 6 §7).

It trusts one file it was given once — the programme's TUF root metadata — and from it verifies
everything it fetches from the clearinghouse's signed feed (python-tuf's ``ngclient``), scans the
operator's SBOMs on its own machine with the same code as ``forewarn scan``, and reports back to the
server, with the operator's API token, which matches are fixed or still present.

Invariants:

- the agent never uses a file from the feed that did not verify against the trusted root chain
  (signatures, thresholds, versions, expiry, lengths and hashes); a refusal stops the run before
  anything is scanned or reported, with a message that says what was refused and why;
- it reports only about advisories it holds verified and assets it scanned itself;
- the token is kept in a file readable by its owner only (0600) and never printed.

Modules: ``config`` (the agent's folder, its settings and trusted root), ``feed`` (the TUF client),
``run`` (one scan-and-report cycle, and the schedule).
"""
