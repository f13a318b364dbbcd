"""Pre-release review: the voluntary programme of the executive order (DESIGN R1, R2, R4, R5).

``service`` holds the model registry, the versioned participation agreement and the labs' signatures
(withdrawal at any time), review windows (access from the lab's one credential, closed on time by the
``review:due`` / ``review:tick`` jobs), access grants and reviewer keys (through ``gateway``), notices
and the message channel between a lab and the agencies. ``assessments`` holds workstreams, findings
and the final report. See docs/review.md.
"""
