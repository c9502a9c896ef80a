"""A chat room: what one client sends, every client in the room receives, through Redis."""

from __future__ import annotations

import json
import os

from channels.generic.websocket import AsyncWebsocketConsumer

from chat.build import BUILD


class ChatConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        self.room = "chat-" + self.scope["url_route"]["kwargs"]["room"]
        await self.channel_layer.group_add(self.room, self.channel_name)
        await self.accept()
        # Which build and which server process took the connection.
        await self.send(json.dumps({"build": BUILD, "master": os.getppid()}))

    async def disconnect(self, code):
        await self.channel_layer.group_discard(self.room, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        await self.channel_layer.group_send(self.room, {"type": "chat.message", "text": text_data})

    async def chat_message(self, event):
        await self.send(json.dumps({"message": event["text"]}))
