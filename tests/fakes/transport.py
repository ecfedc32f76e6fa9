"""The delivery transport, faked where the dispatcher meets a platform."""

from __future__ import annotations

from bot.core.delivery.transport import Delivery, SendResult, SendStatus


class RecordingTransport:
    """A delivery transport at the platform edge: records each delivery, plays a script.

    Each scripted item is a `SendResult` or an exception to raise, in the order sends
    arrive; once the script runs out every send succeeds. `sent` holds every delivery
    handed to `send`, in order, whatever its outcome.
    """

    def __init__(self, *script: SendResult | Exception) -> None:
        self.script = list(script)
        self.sent: list[Delivery] = []

    async def send(self, delivery: Delivery) -> SendResult:
        """Record the delivery and play the next scripted outcome."""
        self.sent.append(delivery)
        outcome = self.script.pop(0) if self.script else SendResult(SendStatus.SENT)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome
