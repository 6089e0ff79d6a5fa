"""Two 8x A800 hosts serving one model together (see group_data/a800_pair.py for the service
across them and docs/hosts/multi-node.md). Each is the a800 seed's hardware
(tests/fixtures/hardware/a800.yaml); replace the addresses with yours, and name the interface of
their private network in group_data/a800_pair.py.

    llmhost plan inventories/a800-pair.py
    pyinfra inventories/a800-pair.py deploys/serve.py
"""

a800_pair = [
    ("gpu-1", {"ssh_hostname": "192.0.2.11", "ssh_user": "root"}),
    ("gpu-2", {"ssh_hostname": "192.0.2.12", "ssh_user": "root"}),
]
