"""Take a host to a verified serving state: plan, then the layers in order, then verify.

pyinfra -y inventories/local.py deploys/serve.py
"""

import json
import os

from pyinfra import host

from llmhost.deploys import serve
from llmhost.deploys.inputs import host_endpoints, host_planned, sources_checked
from llmhost.plan import applicable

# bad data, an impossible wish, or no way to an index a new venv installs from stops here, before any change
settings, plan = host_planned(host)
plan = sources_checked(host, applicable(plan))
serve(plan)
if os.environ.get("LLMHOST_ENDPOINTS") == "1":  # `llmhost serve` prints them once the run succeeded
    print(
        json.dumps({"host": host.name, "endpoints": host_endpoints(host, settings, plan)}, sort_keys=True), flush=True
    )
