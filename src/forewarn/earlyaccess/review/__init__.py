"""Pre-release review: for now, the registry of the models a lab brings to the programme.

Issue 7 extends this package with agreements, submissions, windows, assessments and reports.
"""
