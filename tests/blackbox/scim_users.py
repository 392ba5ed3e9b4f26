"""Drive the origin's SCIM Users with clients nobody here wrote.

Usage:
  scim_users.py client BASE_URL TOKEN   scim2-client creates, reads, queries, patches, replaces and deletes a
                                        user; prints what it saw as one JSON line.
  scim_users.py tester BASE_URL TOKEN   scim2-tester's checks, limited to the User resource type (plus the
                                        discovery checks it always runs); prints one JSON line with every
                                        result's status and title, and exits non-zero if any check failed.
"""
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import PatchOp, PatchOperation, SearchRequest

mode, base, token = sys.argv[1], sys.argv[2], sys.argv[3]
client = SyncSCIMClient(Client(base_url=base, headers={"Authorization": f"Bearer {token}"}))
client.discover()

if mode == "tester":
    from scim2_tester import check_server
    from scim2_tester.utils import Status

    results = check_server(client, resource_types=["User"])
    out = [{"status": r.status.name, "title": r.title, "reason": r.reason, "type": r.resource_type}
           for r in results]
    print(json.dumps(out))
    sys.exit(0 if all(r.status in (Status.SUCCESS, Status.SKIPPED) for r in results) else 1)

User = next(m for m in client.provider.models if m.__name__.startswith("User"))
seen = {}
created = client.create(User(user_name="scim2-client-user", external_id="ext-42", display_name="Client User",
                             active=True))
seen["created"] = {"id": created.id, "user_name": created.user_name, "version": created.meta.version}
got = client.query(User, created.id)
seen["read"] = got.user_name
found = client.query(User, query_parameters={"filter": 'userName eq "SCIM2-CLIENT-USER"'})
seen["filtered"] = [u.id for u in found.resources or []]
searched = client.search(SearchRequest(filter='externalId eq "ext-42"', attributes=["userName"]))
seen["searched"] = [u.user_name for u in searched.resources or []]
op = PatchOp[User](operations=[PatchOperation(op="replace", path="displayName", value="Patched Name")])
patched = client.modify(User, created.id, op)
seen["patched"] = client.query(User, created.id).display_name
got = client.query(User, created.id)
got.display_name = "Replaced Name"
replaced = client.replace(got)
seen["replaced"] = replaced.display_name
seen["version_after"] = replaced.meta.version
client.delete(User, created.id)
try:
    client.query(User, created.id)
    seen["after_delete"] = "still there"
except Exception as e:  # scim2-client raises on the 404 error body
    seen["after_delete"] = type(e).__name__
print(json.dumps(seen))
