"""Layer: Prometheus and the node exporter as llmhost_monitoring plans them. Their packages' own
units run them; llmhost's drop-ins replace each ExecStart (loopback, llmhost's config) and are
written, with the config, the rules and the targets' keys, before the packages are installed, so
neither ever starts with its defaults (every interface). A changed drop-in restarts its unit; a
changed config, rule file or key reloads Prometheus (SIGHUP: no gap in its samples)."""

from __future__ import annotations

import io
import posixpath

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd
from pyinfra.operations.util import any_changed

from llmhost.dashboards import dashboard_json
from llmhost.operations import files as llmfiles
from llmhost.operations import signing
from llmhost.plan import HostPlan
from llmhost.render import (
    alertmanager_config,
    credentials_text,
    grafana_dropin_vars,
    grafana_provisioning,
    grafana_sources,
    monitoring_dropin_vars,
    prometheus_config,
    prometheus_console,
    prometheus_rules,
)
from llmhost.resources import template


@deploy("llmhost monitoring layer")
def apply(plan: HostPlan) -> None:
    m = plan.monitoring
    if not m:
        return
    # the packages' account, as their postinst makes it (adduser --system --group, no home made):
    # the keys are its group's before the packages are installed
    server.group(name=f"Group {m.user}", group=m.user, system=True)
    server.user(
        name=f"System user {m.user} (the packages' own)",
        user=m.user,
        group=m.user,
        system=True,
        home=m.home,
        create_home=False,
        ensure_home=False,
        shell="/usr/sbin/nologin",
    )
    files.directory(name="Directory /etc/prometheus", path=posixpath.dirname(m.config), mode="755")
    files.directory(
        name=f"Directory of the targets' keys ({m.keys_dir}, readable by {m.user} alone)",
        path=m.keys_dir,
        user="root",
        group=m.user,
        mode="750",
    )
    inputs = [
        files.put(
            name=f"Key of {t.job} for Prometheus ({t.credentials})",
            src=io.StringIO(credentials_text(t)),
            dest=t.credentials,
            user="root",
            group=m.user,
            mode="640",
        )
        for t in m.targets
        if t.credentials
    ]
    inputs += [
        llmfiles.content(
            name=f"Prometheus config ({len(m.targets)} targets)",
            src=io.StringIO(prometheus_config(m)),
            dest=m.config,
            mode="644",
        ),
        llmfiles.content(
            name=f"Alert rules ({len(m.rules)})",
            src=io.StringIO(prometheus_rules(m)),
            dest=m.rules_file,
            mode="644",
        ),
    ]
    files.directory(name="Directory of Prometheus's console pages", path=posixpath.dirname(m.console), mode="755")
    llmfiles.content(  # (rendered by Prometheus at each view: nothing to reload)
        name="Prometheus console page of the services (/consoles/llmhost.html)",
        src=io.StringIO(prometheus_console()),
        dest=m.console,
        mode="644",
    )
    alerting = []
    if m.alertmanager_argv:
        if m.smtp_password_file:
            password = files.put(
                name=f"SMTP password of Alertmanager ({m.smtp_password_file})",
                src=io.StringIO(dict(m.email)["password"] + "\n"),
                dest=m.smtp_password_file,
                user="root",
                group=m.user,
                mode="640",
            )
            alerting.append(password)
        alerting.append(
            files.put(  # (the webhook's URL may hold a token: readable by Alertmanager's account alone)
                name="Alertmanager config (its receivers)",
                src=io.StringIO(alertmanager_config(m)),
                dest=m.alertmanager_config,
                user="root",
                group=m.user,
                mode="640",
            )
        )
    dropins = {}
    for unit in m.units:
        files.directory(name=f"Drop-in directory of {unit}", path=posixpath.dirname(m.dropin(unit)), mode="755")
        dropins[unit] = llmfiles.rendered(
            name=f"Drop-in of {unit} (llmhost's argv)",
            src=template("prometheus-override.conf.j2"),
            dest=m.dropin(unit),
            mode="644",
            **monitoring_dropin_vars(m, unit),
        )
    systemd.daemon_reload(name="Reload systemd units (monitoring drop-ins)", _if=any_changed(*dropins.values()))
    if m.missing:
        apt.update(name="Refresh apt package lists", cache_time=3600)
        apt.packages(
            name=f"Install {', '.join(m.missing)}",
            packages=list(m.missing),
            no_recommends=True,
        )
    for unit in m.units:
        systemd.service(
            name=f"Restart {unit} (its argv changed)",
            service=f"{unit}.service",
            restarted=True,
            _if=dropins[unit].did_change,
        )
    for unit in m.units:
        systemd.service(name=f"Run {unit}, enabled at boot", service=f"{unit}.service", running=True, enabled=True)
    systemd.service(
        name=f"Reload {m.unit} (config, rules or keys changed)",
        service=f"{m.unit}.service",
        reloaded=True,
        _if=lambda: any_changed(*inputs)() and not dropins[m.unit].did_change(),  # (a restart reads them too)
    )
    if m.alertmanager_argv:
        unit = m.alertmanager_unit
        systemd.service(
            name=f"Reload {unit} (its receivers changed)",
            service=f"{unit}.service",
            reloaded=True,
            _if=lambda: any_changed(*alerting)() and not dropins[unit].did_change(),
        )
    if m.grafana_port:
        _grafana(m)


def _grafana(m) -> None:
    """Grafana from its APT repository (its key checked by fingerprint first), installed (its package
    starts nothing), then its settings (the drop-in), admin password, data source and dashboards
    before its first start; restarted when a setting, the password or the data source changed
    (it reads the dashboards' directory again by itself)."""
    key = signing.key(
        name=f"Grafana's signing key ({m.grafana_key_fingerprint})",
        url=f"{m.grafana_repo}/gpg.key",
        fingerprint=m.grafana_key_fingerprint,
        keyring=m.grafana_keyring,
    )
    source = llmfiles.content(
        name=f"Grafana's APT source ({m.grafana_repo})",
        src=io.StringIO(grafana_sources(m)),
        dest=m.grafana_sources,
        mode="644",
    )
    apt.update(name="Refresh apt package lists (Grafana's repository)", _if=any_changed(key, source))
    if m.grafana_missing:
        apt.packages(name="Install grafana", packages=["grafana"], no_recommends=True)
    datasource, provider = grafana_provisioning(m)
    inputs = [
        files.put(
            name=f"Grafana's admin password ({m.grafana_password_file})",
            src=io.StringIO(m.grafana_password + "\n"),
            dest=m.grafana_password_file,
            user="root",
            group="grafana",
            mode="640",
        ),
        llmfiles.content(
            name="Grafana's data source (Prometheus)",
            src=io.StringIO(datasource),
            dest=m.grafana_datasource,
            mode="644",
        ),
        llmfiles.content(
            name="Grafana's dashboard provider", src=io.StringIO(provider), dest=m.grafana_provider, mode="644"
        ),
    ]
    files.directory(name="Directory of llmhost's dashboards", path=m.dashboards_dir, mode="755")
    for kind in m.dashboards:
        llmfiles.content(
            name=f"Dashboard llmhost-{kind}",
            src=io.StringIO(dashboard_json(kind)),
            dest=f"{m.dashboards_dir}/{kind}.json",
            mode="644",
        )
    unit = m.grafana_unit
    files.directory(name=f"Drop-in directory of {unit}", path=posixpath.dirname(m.dropin(unit)), mode="755")
    dropin = llmfiles.rendered(
        name=f"Drop-in of {unit} (its settings)",
        src=template("grafana-override.conf.j2"),
        dest=m.dropin(unit),
        mode="644",
        **grafana_dropin_vars(m),
    )
    systemd.daemon_reload(name=f"Reload systemd units ({unit}'s drop-in)", _if=dropin.did_change)
    systemd.service(
        name=f"Restart {unit} (its settings, password or data source changed)",
        service=f"{unit}.service",
        restarted=True,
        _if=any_changed(dropin, *inputs),
    )
    systemd.service(name=f"Run {unit}, enabled at boot", service=f"{unit}.service", running=True, enabled=True)
