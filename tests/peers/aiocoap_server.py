#!/usr/bin/env python3
"""An aiocoap CoAP server for nbmodem's interop tests (crates/cli/tests/interop_coap.rs).

Usage: aiocoap_server.py PORT — serves on 127.0.0.1:PORT (UDP only) and prints
"aiocoap: serving on 127.0.0.1:PORT" on stdout once it listens. Resources:
  /text     GET: a short text
  /large    GET: 100 KiB, byte i = "0123456789abcdefghijklmnopqrstuvwxyz\\n"[i % 37] (Block2)
  /counter  GET, observable: a decimal counter, incremented and notified every second
  /echo     POST/PUT: the request body back (Block1 in, Block2 out)
"""

import asyncio
import sys

import aiocoap
import aiocoap.resource as resource

PATTERN = b"0123456789abcdefghijklmnopqrstuvwxyz\n"
TEXT = 0
OCTET_STREAM = 42


class Text(resource.Resource):
    async def render_get(self, request):
        return aiocoap.Message(payload=b"Hello from aiocoap", content_format=TEXT)


class Large(resource.Resource):
    def __init__(self):
        super().__init__()
        self.body = bytes(PATTERN[i % len(PATTERN)] for i in range(100 * 1024))

    async def render_get(self, request):
        return aiocoap.Message(payload=self.body, content_format=OCTET_STREAM)


class Counter(resource.ObservableResource):
    def __init__(self):
        super().__init__()
        self.count = 0

    async def tick(self):
        while True:
            await asyncio.sleep(1)
            self.count += 1
            self.updated_state()

    async def render_get(self, request):
        return aiocoap.Message(payload=str(self.count).encode(), content_format=TEXT)


class Echo(resource.Resource):
    async def render_post(self, request):
        return aiocoap.Message(
            code=aiocoap.CHANGED, payload=request.payload, content_format=OCTET_STREAM
        )

    render_put = render_post


async def main(port):
    counter = Counter()
    site = resource.Site()
    site.add_resource([".well-known", "core"], resource.WKCResource(site.get_resources_as_linkheader))
    site.add_resource(["text"], Text())
    site.add_resource(["large"], Large())
    site.add_resource(["counter"], counter)
    site.add_resource(["echo"], Echo())
    await aiocoap.Context.create_server_context(site, bind=("127.0.0.1", port), transports=["udp6"])
    print(f"aiocoap: serving on 127.0.0.1:{port}", flush=True)
    await counter.tick()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
