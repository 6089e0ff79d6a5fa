"""Seed host v100 (see group_data/v100.py for what it serves and tests/fixtures/hardware/v100.yaml
for the hardware the plans were checked against). Replace the address with yours.

    llmhost plan inventories/v100.py
    pyinfra inventories/v100.py deploys/serve.py
"""

v100 = [
    ("v100", {"ssh_hostname": "192.0.2.10", "ssh_user": "root"}),
]
