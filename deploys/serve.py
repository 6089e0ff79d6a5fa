"""Take a host to a verified serving state: plan, then the layers in order, then verify.

pyinfra -y inventories/local.py deploys/serve.py
"""

import json
import os

from pyinfra import host

from llmhost.deploys import serve
from llmhost.deploys.inputs import host_endpoints, host_plan, sources_checked
from llmhost.plan import applicable

# bad data, an impossible wish, or no way to an index a new venv installs from stops here, before any change
plan = sources_checked(host, applicable(host_plan(host)))
serve(plan)
if os.environ.get("LLMHOST_ENDPOINTS") == "1":  # `llmhost serve` prints them once the run succeeded
    print(json.dumps({"host": host.name, "endpoints": host_endpoints(host, plan)}, sort_keys=True), flush=True)
