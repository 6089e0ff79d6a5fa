"""APT signing keys fetched by URL and trusted only at the fingerprint llmhost pins."""

from __future__ import annotations

import posixpath
import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from llmhost.facts.monitoring import KeyringFingerprints


@operation()
def key(url: str, fingerprint: str, keyring: str):
    """
    Keep the OpenPGP key at ``url`` in ``keyring`` (dearmored, mode 0644, for an APT source's
    ``signed-by``) when it is one key whose fingerprint is ``fingerprint``; any other key fails the
    operation and leaves the keyring as it was.

    + url: where the key is published (``https://apt.grafana.com/gpg.key``)
    + fingerprint: its primary key's fingerprint (40 hex digits, upper case)
    + keyring: the file APT reads (``/etc/apt/keyrings/grafana.gpg``)

    **Example:**

    .. code:: python

        signing.key(
            name="Grafana's signing key",
            url="https://apt.grafana.com/gpg.key",
            fingerprint="B53AE77BADB630A683046005963FA27710458545",
            keyring="/etc/apt/keyrings/grafana.gpg",
        )
    """
    if host.get_fact(KeyringFingerprints, path=keyring) == [fingerprint]:
        host.noop(f"{keyring} holds the key {fingerprint}")
        return
    q = shlex.quote
    script = (
        'set -e; t=$(mktemp); trap \'rm -f "$t" "$t.gpg"\' EXIT; '
        f'curl -fsSL --retry 2 --max-time 60 {q(url)} -o "$t"; '
        'keys=$(gpg --show-keys --with-colons "$t" | awk -F: \'$1=="pub"{p=1;next} p&&$1=="fpr"{print $10;p=0}\'); '
        f'if [ "$keys" != {q(fingerprint)} ]; then '
        f'echo "{url}: its key is ${{keys:-none}}, not {fingerprint} (llmhost.pins)" >&2; exit 1; fi; '
        'if grep -q "BEGIN PGP PUBLIC KEY" "$t"; then gpg --dearmor < "$t" > "$t.gpg"; else cp "$t" "$t.gpg"; fi; '
        f"install -d -m 755 {q(posixpath.dirname(keyring))}; "
        f'install -m 644 "$t.gpg" {q(keyring)}'
    )
    yield StringCommand("sh", "-c", QuoteString(script))
