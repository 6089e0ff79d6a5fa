"""Take a host to a verified serving state: plan, then the layers in order, then verify.

pyinfra -y inventories/local.py deploys/serve.py
"""

import json
import os

from pyinfra import host

from llmhost.deploys import serve
from llmhost.deploys.inputs import host_endpoints, host_plan
from llmhost.plan import applicable

plan = applicable(host_plan(host))  # bad data or an impossible wish stops here, before any change
serve(plan)
if os.environ.get("LLMHOST_ENDPOINTS") == "1":  # `llmhost serve` prints them once the run succeeded
    print(json.dumps({"host": host.name, "endpoints": host_endpoints(host, plan)}, sort_keys=True), flush=True)
