"""Seed host a800 (see group_data/a800.py for what it serves and tests/fixtures/hardware/a800.yaml
for the hardware the plans were checked against). Replace the address with yours.

    llmhost plan inventories/a800.py
    pyinfra inventories/a800.py deploys/serve.py
"""

a800 = [
    ("a800", {"ssh_hostname": "192.0.2.10", "ssh_user": "root"}),
]
