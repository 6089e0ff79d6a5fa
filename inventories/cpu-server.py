"""Seed host cpu-server (see group_data/cpu-server.py for what it serves and tests/fixtures/hardware/cpu-server.yaml
for the hardware the plans were checked against). Replace the address with yours.

    llmhost plan inventories/cpu-server.py
    pyinfra inventories/cpu-server.py deploys/serve.py
"""

cpu_server = [
    ("cpu-server", {"ssh_hostname": "192.0.2.10", "ssh_user": "root"}),
]
