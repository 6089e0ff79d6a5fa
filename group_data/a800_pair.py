"""One Qwen2-72B-Instruct across two 8x A800 hosts (group a800_pair of inventories/a800-pair.py):
vLLM's own multi-node mode, gpu-1 the head (the API server), gpu-2 a headless worker; tensor
parallel 8 (the GPUs of a node) x pipeline parallel 2 (the nodes). eth1 is the interface of the
hosts' private network: its IPv4 address is each node's VLLM_HOST_IP and the head's
--master-addr. The traffic between the nodes is neither authenticated nor encrypted: keep eth1 on
a private, firewalled network. The API listens on 0.0.0.0 of the head, guarded by a key generated
on the head into /etc/llmhost/qwen72.key.env (0600)."""

llmhost_cluster_interface = "eth1"
llmhost_services = [
    {
        "name": "qwen72",
        "model": "Qwen/Qwen2-72B-Instruct",
        "nodes": ["gpu-1", "gpu-2"],
        "host": "0.0.0.0",
    },
]
