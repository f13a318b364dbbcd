"""Matching: which published advisories affect which inventoried components (DESIGN §4, step 3).

Modules (pure, no database):

- ``versions`` version orderings per OSV ecosystem (univers where it agrees with the ecosystem,
               forewarn's own comparators where it does not);
- ``ranges``   OSV §Evaluation of one affected entry: explicit versions, range events walked in
               ecosystem order;
- ``engine``   an index of advisories by (ecosystem, package name), source packages included, and the
               matcher that evaluates each distinct (ecosystem, name, version) once;
- ``vex``      VEX statements (CycloneDX VEX, OpenVEX, CSAF VEX) and how they suppress matches.

Heavy libraries (univers, packageurl) are imported inside the functions that need them.
"""
