"""Cohort's recommendation library: profiles, segments, graph and course ranking.

This package never imports `bot`; the bot reads the store and hands data in.
"""
