"""Drive the origin's SCIM Groups with a client nobody here wrote.

Usage:
  scim_groups.py BASE_URL TOKEN USER_A USER_B   scim2-client creates a group with USER_A, patches it (adds
                                                USER_B, removes USER_A), reads it; prints one JSON line.
"""
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import PatchOp, PatchOperation

base, token, user_a, user_b = sys.argv[1:5]
client = SyncSCIMClient(Client(base_url=base, headers={"Authorization": f"Bearer {token}"}))
client.discover()
Group = next(m for m in client.provider.models if m.__name__.startswith("Group"))
Member = Group.model_fields["members"].annotation.__args__[0].__args__[0]
seen = {}
created = client.create(Group(display_name="py group", members=[Member(value=user_a)]))
seen["created"] = [m.value for m in created.members or []]
op = PatchOp[Group](operations=[
    PatchOperation(op="add", path="members", value=[{"value": user_b}]),
    PatchOperation(op="remove", path=f'members[value eq "{user_a}"]'),
])
client.modify(Group, created.id, op)
got = client.query(Group, created.id)
seen["patched"] = [m.value for m in got.members or []]
seen["display"] = got.display_name
print(json.dumps(seen))
