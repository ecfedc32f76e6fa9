"""The `cohort` command line (typer + rich). Heavy imports happen inside commands."""
