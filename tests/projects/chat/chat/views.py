"""An async view that streams server-sent events, one every tenth of a second."""

from __future__ import annotations

import asyncio

from django.http import StreamingHttpResponse


async def events(request):
    count = int(request.GET.get("count", "30"))

    async def stream():
        for number in range(count):
            yield f"data: {number}\n\n"
            await asyncio.sleep(0.1)

    response = StreamingHttpResponse(stream(), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    return response
