"""Discover a SCIM service with scim2-client (a client nobody here wrote) and print what it understood.

Usage: scim_discover.py BASE_URL TOKEN. Exits non-zero (with the client's exception) when the discovery
documents do not describe a coherent service for scim2-models.
"""
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient

base, token = sys.argv[1], sys.argv[2]
client = SyncSCIMClient(Client(base_url=base, headers={"Authorization": f"Bearer {token}"}))
client.discover()
provider = client.provider
print(json.dumps({
    "patch": provider.config.patch.supported,
    "filter": provider.config.filter.supported,
    "max_results": provider.config.filter.max_results,
    "resource_types": sorted(rt.id for rt in provider.resource_types),
    "models": sorted(m.__name__ for m in provider.models),
}))
