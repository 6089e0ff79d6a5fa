"""Where the host gets its packages and models: apt sources (a mirror's, or the distribution's own
restored), the pip index and the hubs' endpoints (the explicit keys win over llmhost_mirror)."""

from __future__ import annotations

from llmhost.distros import APT_LAYOUTS, CODENAMES, DEBIAN_SOURCES
from llmhost.plan.inputs import HostFacts
from llmhost.plan.types import AptPlan, PlanError
from llmhost.settings import Settings


def endpoints(settings: Settings) -> dict[str, str | None]:
    """Hub endpoints: the explicit keys win over the mirror."""
    mirror = dict(settings.mirror)
    return {
        "hf": settings.hf_endpoint or mirror.get("hf"),
        "modelscope": settings.modelscope_endpoint or mirror.get("modelscope"),
    }


def endpoint_keys(settings: Settings) -> dict[str, str]:
    """The data key that sets each hub's endpoint (named when the host cannot reach it)."""
    mirror = dict(settings.mirror)
    return {
        hub: f"llmhost_{hub}_endpoint"
        if explicit
        else f"llmhost_mirror ({settings.mirror_name})"
        if mirror.get(hub)
        else f"llmhost_{hub}_endpoint (unset: {default})"
        for hub, explicit, default in (
            ("hf", settings.hf_endpoint, "huggingface.co"),
            ("modelscope", settings.modelscope_endpoint, "modelscope.cn"),
        )
    }


def sources(facts: HostFacts, settings: Settings) -> tuple[AptPlan | None, list[str]]:
    """The host's apt sources (a mirror's, or the distribution's own) and the pip and hub
    addresses the mirror or the explicit keys give."""
    mirror, name = dict(settings.mirror), settings.mirror_name
    reasons = []
    layout = APT_LAYOUTS.get((facts.os_id, facts.os_version))
    uri = mirror.get(facts.os_id)
    ports = facts.os_id == "ubuntu" and facts.arch != "x86_64"
    if ports and name == "tuna":
        uri = mirror.get("ubuntu-ports")
    if layout is None:
        if uri:
            raise PlanError(
                f"llmhost_mirror: no apt layout known for {facts.os_id} {facts.os_version} (llmhost/engines.py)"
            )
        return None, reasons
    file = layout.file
    if facts.os_id == "debian":  # the file this host has (deb822 debian.sources or one-line sources.list)
        file = next((f for f in DEBIAN_SOURCES if f in facts.apt_source_files), layout.file)
    codename = facts.os_codename or CODENAMES[(facts.os_id, facts.os_version)]
    security = "http://ports.ubuntu.com/ubuntu-ports" if ports else layout.security_uri
    apt = AptPlan(
        file=file,
        template="apt-sources.deb822.j2" if file.endswith(".sources") else "apt-sources.list.j2",
        uri=uri,
        codename=codename,
        suites=tuple(s.format(c=codename) for s in layout.suites),
        components=layout.components,
        keyring=layout.keyring,
        security_uri=security,
        security_suite=layout.security_suite.format(c=codename),
        mirror_name=name,
    )
    if uri:
        reasons.append(
            f"apt: {uri} in {file} (llmhost_mirror={name}); security updates stay on {security}; the "
            f"original is kept in {apt.backup}"
        )
    else:
        reasons.append(
            f"apt: the distribution's own sources in {file} (restored from {apt.backup} if llmhost switched them)"
        )
    hubs = endpoints(settings)
    for what, value, key in (
        ("pip", settings.pip_index_url or mirror.get("pip"), "llmhost_pip_index_url"),
        ("hf", hubs["hf"], "llmhost_hf_endpoint"),
        ("modelscope", hubs["modelscope"], "llmhost_modelscope_endpoint"),
    ):
        if value:
            explicit = getattr(settings, key.removeprefix("llmhost_"))
            reasons.append(f"{what}: {value} (" + (f"{key}" if explicit else f"llmhost_mirror={name}") + ")")
    return apt, reasons
