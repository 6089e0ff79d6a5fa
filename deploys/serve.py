"""Take a host to a verified serving state: plan, then the layers in order, then verify.

pyinfra -y inventories/local.py deploys/serve.py
"""

from pyinfra import host

from llmhost.deploys import applicable, host_plan, serve

plan = applicable(host_plan(host))  # bad data or an impossible wish stops here, before any change
serve(plan)
