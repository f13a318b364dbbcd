"""The signed patch feed: a TUF repository (python-tuf) of what the clearinghouse publishes (DESIGN §4).

Modules:

- ``tuf_repo`` the metadata of the four top-level roles and the hashed bins, built and signed (pure);
- ``models``   role and bins keys (sealed), every signed metadata version, and target contents;
- ``service``  the repository: creation, an advisory's targets (OSV, CSAF, patch manifest), vendors'
               patch files, the index of targets, the hourly refresh, pruning, key rotation, the
               offline root (export, import), and the files the routes serve;
- ``policy``   who uploads patch files (analysts, the advisory's vendors); the feed itself is public;
- ``records``  the feed's status and patch files as the API shows them;
- ``api``      ``/api/v1/feed/...``: status, patch files (list, upload);
- ``views``    the repository over HTTP at ``/tuf/`` (metadata and consistent-snapshot targets);
- ``jobs``     ``feed:publish_advisory`` (enqueued by advisories) and the periodic ``feed:refresh``
               (which also prunes).
"""
