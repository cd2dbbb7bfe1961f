"""The podnetctl.json a lab writes beside lab.json: `podnetctl --config <state>/podnetctl.json`
(or `--lab` for the default lab) then reaches its ipamd and agents as the lab operator,
from the bridge namespace that stands in for the operator's machine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from podnet.tls.identity import Role

from podnetctl.certs.store import CertificateStore
from tools.lab.layout import LabPaths
from tools.lab.pki import ADMIN_NAME

if TYPE_CHECKING:
    from tools.lab.state import LabRecord

PODNETCTL_CONFIG = "podnetctl.json"


def podnetctl_config(lab: LabRecord) -> dict[str, Any]:
    store = CertificateStore(LabPaths(Path(lab.state_dir)).pki_dir)
    admin = store.leaf(Role.ADMIN, ADMIN_NAME)
    return {
        "ipamd": [lab.ipamd.address] if lab.ipamd is not None else [],
        "agents": {node.name: node.admin_address for node in lab.nodes if node.admin_address},
        "cacert": str(store.ca_cert),
        "cert": str(admin.cert),
        "key": str(admin.key),
        "ipamd_insecure_plaintext": lab.daemon_options.insecure_plaintext,
        "netns": lab.bridge_netns,
    }
