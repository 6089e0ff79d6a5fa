"""Fetch, push or check every service's model on a host, and nothing else (no engine, no restart;
so no GGUF is made from a checkpoint either: that needs llama.cpp's build, which serve.py makes).

    pyinfra -y inventories/a800.py deploys/models.py                          # weights ahead of time
    pyinfra -y inventories/a800.py deploys/models.py --data llmhost_verify=full   # re-hash everything
"""

from pyinfra import host

from llmhost.deploys import mirrors, model, system
from llmhost.deploys.inputs import host_plan

plan = host_plan(host)  # bad data, or a model that cannot fit the disk, stops here before any change

mirrors.apply(plan)
system.apply(plan)
model.apply(plan, convert=False)
