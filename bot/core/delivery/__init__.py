"""Sending: delivery policy, the outbox dispatcher and transports."""
