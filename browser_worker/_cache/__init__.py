"""The per-app route cache: responses an app's pages fetched from URLs its manifest names
(``cache_routes``), kept on disk per (workspace, app id) and served to later starts of the
same app without touching the network.

``store`` is the disk and its LRU index (no asyncio, no browser), ``rules`` decides which
requests and responses may be cached, ``router`` puts both on a session's browser context.
"""
