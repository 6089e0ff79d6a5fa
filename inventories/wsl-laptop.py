"""Seed host wsl-laptop (see group_data/wsl-laptop.py for what it serves and tests/fixtures/hardware/wsl-laptop.yaml
for the hardware the plans were checked against). Replace the address with yours.

    llmhost plan inventories/wsl-laptop.py
    pyinfra inventories/wsl-laptop.py deploys/serve.py
"""

wsl_laptop = [
    ("wsl-laptop", {"ssh_hostname": "192.0.2.10", "ssh_user": "root"}),
]
