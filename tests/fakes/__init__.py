"""One fake per network edge, shared by every test that reaches that edge.

- `telegram.FakeTelegram`: the Bot API, at python-telegram-bot's `BaseRequest`
  (update builders: `telegram_payloads`).
- `discord.FakeDiscord`: Discord's REST API, interaction webhooks and gateway socket,
  at discord.py's `HTTPClient` and `AsyncWebhookAdapter` (payload builders:
  `discord_payloads`).
- `transport.RecordingTransport`: a delivery transport (where the dispatcher meets a
  platform) that records deliveries and plays scripted outcomes.
- `sink.RecordingSink`: the event sink an adapter feeds (where the pipeline would be),
  recording events, forwarding them or failing on cue.

Everything between these edges and Cohort is the real code: the libraries' parsers
and clients, the pipeline, the store.
"""
