"""huey_consumer for ``-k greenlet``: huey leaves the gevent monkey-patch to the user, and it
must come before anything imports socket or threading, so this entry point applies it first
(as huey's documentation advises) and then hands over to huey's own consumer_main."""
from gevent import monkey

monkey.patch_all()

from huey.bin.huey_consumer import consumer_main  # noqa: E402

raise SystemExit(consumer_main())
