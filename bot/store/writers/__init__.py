"""Per-table writers: each turns one part of an `Admission` into a few set-based statements.

`bot/store/writer.py` runs them in order inside one transaction; they share a
`WriteContext` (the connection, the statements, the id caches, the keyed hash and
the batch's counts) and decide nothing about consent: the admission already did.
"""
