"""The sealed ("classified") benchmark that decides whether a model is a covered frontier system.

Pure foundations, free of the database and of Inspect:

- :mod:`.pack` — the custodians' authoring directory, the sealed pack file, its identity and draws;
- :mod:`.scoring` — pass/fail scorers for a model's output (choice, exact, includes, pattern);
- :mod:`.stats` — the truncated sequential test and its exact operating characteristics;
- :mod:`.example` — the NON-CLASSIFIED EXAMPLE pack generator shipped with forewarn;
- :mod:`.attestation` — in-toto statements in DSSE envelopes, signed with Ed25519.

The programme's side: :mod:`.service` (packs, threshold policies, consultations, determinations),
:mod:`.runner` (one Inspect evaluation per subprocess), :mod:`.jobs`, :mod:`.api`, :mod:`.views`.

Only this package may import ``inspect_ai`` (DESIGN.md §3), and only lazily, in the runner's child
process (:mod:`.runner`, :mod:`._provider`).
"""
