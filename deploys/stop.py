"""Stop the planned services of a host; `deploys/serve.py` starts them again.

pyinfra -y inventories/local.py deploys/stop.py
"""

from pyinfra import host

from llmhost.deploys import service
from llmhost.deploys.inputs import host_plan

service.stop(host_plan(host))
