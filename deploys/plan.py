"""Print the plan of every host of an inventory from live facts; changes nothing.

llmhost plan inventories/a800.py          (runs: pyinfra -y INVENTORY deploys/plan.py)
"""

import os

from pyinfra import host

from llmhost import report
from llmhost.deploys.inputs import host_plan

plan = host_plan(host, write_secrets=False)  # reads facts only; no operation is queued
if os.environ.get("LLMHOST_PLAN_JSON") == "1":
    print(report.dumps({"host": host.name, **report.host_json(plan)}).replace("\n", " "), flush=True)
else:
    print(report.host_text(host.name, plan), flush=True)
