"""Run inside huey's venv (``python huey_produce.py PHASE``) beside jobs.py: enqueue what
the migration test needs and print the task ids as JSON."""
import json
import sys

import jobs

ids = {}
if sys.argv[1] == "executed":  # run by huey's consumer before it stops: results
    ids["results"] = [jobs.record("done", i, jobs.Parcel(f"sku-{i}", 1.5), jobs.when()).id
                      for i in range(int(sys.argv[2]))]
    ids["error"] = jobs.boom().id
    # huey's consumer takes these from the queue and puts them on its schedule
    ids["scheduled"] = [jobs.record.schedule(("scheduled", i), delay=10).id
                        for i in range(int(sys.argv[3]))]
else:  # left waiting when huey's consumer stops
    ids["queued"] = [jobs.record("queued", i, jobs.Parcel("q", 2.0)).id
                     for i in range(int(sys.argv[2]))]
    # still in the queue, with an eta: a consumer schedules them when it takes them
    ids["later"] = [jobs.record.schedule(("later", i), delay=2).id
                    for i in range(int(sys.argv[3]))]
    revoked = jobs.record("revoked", 0)
    revoked.revoke()
    ids["revoked"] = revoked.id
print(json.dumps(ids))
