"""``hueyd.contrib``: huey's contrib modules, imported as ``hueyd.contrib.NAME``.

``asyncio`` (await a result), ``helpers`` (a Redis semaphore lock), ``mini`` (MiniHuey,
in-process on gevent) and ``djhuey`` (Django). Each loads what it needs only when imported.
"""
