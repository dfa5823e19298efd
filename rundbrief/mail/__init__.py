"""The mail layer under both apps: addresses and tokens, headers and subjects, refusals, transports.

It knows mail, not newsletters or conversations: it imports neither ``campaigns`` nor
``replies`` (nor ``subscribers``), and both use it (an import-linter contract in
pyproject.toml, checked by tests/test_architecture.py).

- addresses   our token addresses: reply+<token>@REPLY_DOMAIN (answers reach their conversation)
- headers     Message-IDs and header hygiene
- subjects    the one rule for "Re:", "AW:", "Fwd:" ... prefixes
- refusals    one vocabulary for a refused mail, classify(exception), the backoff rule
- transports  smtp / esp / mailbox behind one Transport interface (transports/base.py)
"""
