"""scim2-server (the reference SCIM server of tests/blackbox/scim_reference.test.mjs) for `scripts/bench sso`,
seeded before it serves: the server `scim2-server` starts (default schemas and resource types, in-memory
storage, one bearer token, threaded WSGI), with the users of a JSON-lines file created first through the same
two calls a `POST /Users` makes (`ScimService.read_creation`, then `InMemoryStorage.create`), without HTTP:
100,000 POSTs over HTTP take this server many minutes.

Usage (from the repository root, in .tools/venv):
  python tests/bench/scim_reference_server.py --port P --bearer-token T --users FILE --ids OUT

Writes the created ids to OUT, one a line in FILE's order, prints `seeded N users in S s` on stderr, then
`Serving SCIM on http://127.0.0.1:P/v2` on stdout, and serves until stopped.
"""

import argparse
import secrets
import sys
import time
from wsgiref.simple_server import WSGIRequestHandler, make_server

from scim2_models import ScimProvider
from scim2_server.memory import InMemoryStorage
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.testserver.cli import ThreadingWSGIServer
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)


class QuietHandler(WSGIRequestHandler):
    """No line on stderr per request (the origin logs none either)."""

    def log_message(self, format, *args):  # noqa: A002 - the signature of the overridden method
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--bearer-token", required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--ids", required=True)
    args = parser.parse_args()

    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    provider = ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )
    service = ScimService(provider, secret=secrets.token_urlsafe(32))
    storage = InMemoryStorage()
    app = BearerTokenApplication(storage, provider, service=service, bearer_tokens=[args.bearer_token])

    t0 = time.perf_counter()
    ids = []
    with service.provider, open(args.users, "rb") as users:
        resource_type = service.resource_type_at("/Users")
        for line in users:
            resource = service.read_creation(resource_type, line, "application/scim+json")
            with storage.operation():
                ids.append(storage.create(resource_type, resource).id)
    with open(args.ids, "w") as out:
        out.write("\n".join(ids) + "\n")
    print(f"seeded {len(ids)} users in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)

    with make_server(
        "127.0.0.1", args.port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    ) as server:
        print(f"Serving SCIM on http://127.0.0.1:{args.port}/v2", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
