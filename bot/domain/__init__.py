"""The product's vocabulary, the bottom floor: events, consent decisions, replies, refs.

Everything above (the store, training, services, adapters, web, CLI) may import it;
it imports nothing of Cohort's but `bot.errors` and `bot.config`.
"""
