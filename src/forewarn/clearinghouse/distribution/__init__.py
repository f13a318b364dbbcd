"""Distribution: plain-language notices of matches, delivered by email and signed webhooks (DESIGN §4).

Modules:

- ``models``   notices, their deliveries (one per notice and channel) and subscribers' webhook secrets;
- ``service``  fan-out of an advisory's matches into notices, digests, and one delivery attempt;
- ``delivery`` the ``Mailer`` and ``WebhookSender`` Protocols, their real (SMTP; HTTP/1.1 with kept-alive
               connections per host and checked address) and fake forms;
- ``text``     the notice text, from the plain-text templates in ``templates/``;
- ``urls``     the SSRF guard of webhook URLs (https, public addresses only), at save and send time;
- ``policy``   who reads notices and sets the webhook secret (an operator, its own only);
- ``records``  what the API and pages show: notices with their delivery state per channel;
- ``api``, ``views``  the operator's notices and webhook secret (mounted by inventory's API and the
               operator pages);
- ``jobs``     ``distribution:fan_out`` (and its pages, ``distribution:fan_out_page``),
               ``distribution:deliver_batch``, ``distribution:deliver`` (retried with backoff) and the
               periodic ``distribution:send_digests`` and ``distribution:retry_stalled``.
"""
