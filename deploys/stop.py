"""Stop the planned services of a host (LLMHOST_STOP_ONLY: these, by name, comma-separated);
`deploys/serve.py` starts them again.

pyinfra -y inventories/local.py deploys/stop.py          (llmhost stop INVENTORY [SERVICE...])
"""

import os

from pyinfra import host

from llmhost.deploys import service
from llmhost.deploys.inputs import host_plan, stop_request

plan = host_plan(host, write_secrets=False)
service.stop(plan, stop_request(os.environ.get("LLMHOST_STOP_ONLY", ""), plan))
