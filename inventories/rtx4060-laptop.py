"""Seed host rtx4060-laptop (see group_data/rtx4060-laptop.py for what it serves and tests/fixtures/hardware/rtx4060-laptop.yaml
for the hardware the plans were checked against). Replace the address with yours.

    llmhost plan inventories/rtx4060-laptop.py
    pyinfra inventories/rtx4060-laptop.py deploys/serve.py
"""

rtx4060_laptop = [
    ("rtx4060-laptop", {"ssh_hostname": "192.0.2.10", "ssh_user": "root"}),
]
