"""Take a host to a verified serving state: plan, then the layers in order, then verify.

pyinfra -y inventories/local.py deploys/serve.py
"""

from pyinfra import host

from llmhost.deploys import serve
from llmhost.deploys.inputs import host_plan
from llmhost.plan import applicable

plan = applicable(host_plan(host))  # bad data or an impossible wish stops here, before any change
serve(plan)
